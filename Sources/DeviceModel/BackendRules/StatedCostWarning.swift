/// The one sentence that says a database query is slower than its stated cost: the backend logs
/// it at start, and a live run prints it and writes it into its report, each followed by what to
/// change in its own terms (flags, or the scenario's keys).
public enum StatedCostWarning {
    /// E.g. "scan lookups take 95.2 ms on this machine (60000 rows), 1.17× their stated 81.7 ms".
    public static func line(kind: String, realSeconds: Double, statedSeconds: Double, rows: Int? = nil) -> String {
        let what: String
        switch kind {
        case "scan": what = "scan lookups"
        case "indexed": what = "indexed lookups"
        case "touch": what = "last_seen updates (heartbeats)"
        default: what = "\(kind) queries"
        }
        let table = rows.map { " (\($0) rows)" } ?? ""
        return "\(what) take \(milliseconds(realSeconds)) on this machine\(table), "
            + "\(ratio(realSeconds / statedSeconds))× their stated \(milliseconds(statedSeconds))"
    }

    public static func milliseconds(_ s: Double) -> String {
        let ms = s * 1e3
        if ms >= 100 { return "\(Int(ms.rounded())) ms" }
        if ms >= 1 { return "\((ms * 10).rounded() / 10) ms" }
        return "\((ms * 1000).rounded() / 1000) ms"
    }

    static func ratio(_ r: Double) -> String { "\((r * 100).rounded() / 100)" }
}
