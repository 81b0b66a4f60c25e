import Foundation

/// How durations and sizes read in milestone and timeline details: `13h10m`, `6m`, `250ms`,
/// `1.9 GiB`. One formatter for every driver, so a live run and a simulation say the same thing.
public enum ReportFormat {
    /// Whole hours, minutes and seconds (`1h05m` is written `1h5m`); below a second, milliseconds.
    public static func duration(_ ns: Int64) -> String {
        var s = ns / 1_000_000_000
        if s == 0 { return "\(ns / 1_000_000)ms" }
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 { out += "\(s / 60)m"; s %= 60 }
        if s > 0 || out.isEmpty { out += "\(s)s" }
        return out
    }

    /// Binary units with one decimal: `512 B`, `64.0 KiB`, `1.9 GiB`.
    public static func bytes(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
