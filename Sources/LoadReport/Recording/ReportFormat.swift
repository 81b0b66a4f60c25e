import DeviceModel
import Foundation

/// How durations and sizes read in milestone and timeline details: `13h10m`, `6m`, `250ms`,
/// `1.9 GiB`. One formatter for every driver, so a live run and a simulation say the same thing:
/// the report's names for DeviceModel's `Units` formatters, the one implementation of each.
public enum ReportFormat {
    /// Whole hours, minutes and seconds (`1h5m`, `42s`); below a second, whole milliseconds
    /// (`250ms`): `Units.format(duration:)` at that resolution.
    public static func duration(_ ns: Int64) -> String {
        Units.format(duration: ns, resolution: ns >= Time.second ? Time.second : Time.millisecond)
    }

    /// `Units.format(bytes:)`: `512 B`, `64.0 KiB`, `1.9 GiB`.
    public static func bytes(_ bytes: Int64) -> String { Units.format(bytes: bytes) }
}
