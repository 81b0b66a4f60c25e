import Foundation

/// A new report against a baseline: which figures changed, which way is better, and whether any
/// got worse by more than the allowed bound (`fleetsim compare`).
public struct ReportComparison: Sendable {
    public enum Direction: Sendable { case lowerIsBetter, higherIsBetter, neutral }

    /// A figure compared, with the way it should move.
    public struct Metric: Sendable {
        public var name: String
        public var direction: Direction
        /// A threshold-style reference (`handshake_ms`, `p99`) measured the same way thresholds are.
        var metric: String
        var aggregation: ThresholdExpression.Aggregation?
    }

    public struct Row: Sendable, Equatable {
        public var name: String
        public var base: Double?
        public var new: Double?
        /// Relative change (new − base) / |base|; ±∞ from zero; nil when a side is missing.
        public var change: Double?
        /// Positive: worse by that fraction; negative: better; 0: same or neutral.
        public var worsening: Double
        public var regression: Bool
        public var direction: Direction

        public static func == (a: Row, b: Row) -> Bool {
            a.name == b.name && a.base == b.base && a.new == b.new && a.regression == b.regression
        }
    }

    /// The figures compared. Connects and devices are neutral: more is not better or worse by itself.
    public static let metrics: [Metric] = [
        Metric(name: "online_fraction min", direction: .higherIsBetter, metric: "online_fraction", aggregation: .min),
        Metric(name: "online_fraction final", direction: .higherIsBetter, metric: "online_fraction", aggregation: .final),
        Metric(name: "online_fraction avg", direction: .higherIsBetter, metric: "online_fraction", aggregation: .avg),
        Metric(name: "handshake_ms p50", direction: .lowerIsBetter, metric: "handshake_ms", aggregation: .percentile(50)),
        Metric(name: "handshake_ms p90", direction: .lowerIsBetter, metric: "handshake_ms", aggregation: .percentile(90)),
        Metric(name: "handshake_ms p99", direction: .lowerIsBetter, metric: "handshake_ms", aggregation: .percentile(99)),
        Metric(name: "handshake_ms max", direction: .lowerIsBetter, metric: "handshake_ms", aggregation: .max),
        Metric(name: "backend_crashes", direction: .lowerIsBetter, metric: "backend_crashes", aggregation: .count),
        Metric(name: "recovery_s", direction: .lowerIsBetter, metric: "recovery_s", aggregation: nil),
        Metric(name: "retry_amplification", direction: .lowerIsBetter, metric: "retry_amplification", aggregation: nil),
        Metric(name: "peak_reconnect_rate_per_s", direction: .lowerIsBetter, metric: "peak_reconnect_rate_per_s", aggregation: nil),
        Metric(name: "connect_attempts", direction: .lowerIsBetter, metric: "connect_attempts", aggregation: .count),
        Metric(name: "handshake_timeouts", direction: .lowerIsBetter, metric: "handshake_timeouts", aggregation: .count),
        Metric(name: "ack_timeouts", direction: .lowerIsBetter, metric: "ack_timeouts", aggregation: .count),
        Metric(name: "rejects", direction: .lowerIsBetter, metric: "rejects", aggregation: .count),
        Metric(name: "disconnects", direction: .lowerIsBetter, metric: "disconnects", aggregation: .count),
        Metric(name: "db_utilization max", direction: .lowerIsBetter, metric: "db_utilization", aggregation: .max),
        Metric(name: "db_utilization avg", direction: .lowerIsBetter, metric: "db_utilization", aggregation: .avg),
        Metric(name: "db_wait_s max", direction: .lowerIsBetter, metric: "db_wait_s", aggregation: .max),
        Metric(name: "backend_memory_bytes max", direction: .lowerIsBetter, metric: "backend_memory_bytes", aggregation: .max),
        Metric(name: "pending_handshakes max", direction: .lowerIsBetter, metric: "pending_handshakes", aggregation: .max),
        Metric(name: "time_to_50pct_s", direction: .lowerIsBetter, metric: "time_to_50pct_s", aggregation: nil),
        Metric(name: "time_to_95pct_s", direction: .lowerIsBetter, metric: "time_to_95pct_s", aggregation: nil),
        Metric(name: "mass_disconnects", direction: .lowerIsBetter, metric: "mass_disconnects", aggregation: nil),
        Metric(name: "connects", direction: .neutral, metric: "connects", aggregation: .count),
        Metric(name: "devices", direction: .neutral, metric: "devices", aggregation: nil),
    ]

    public var rows: [Row]
    public var maxRegression: Double
    /// Notes on how the two runs differ (scenario, seed, mode): comparing across them is allowed
    /// (a renamed scenario) but worth saying.
    public var notes: [String]
    /// Thresholds that held in the baseline and fail now, or the reverse.
    public var thresholdChanges: [(name: String, base: Bool?, new: Bool?)]

    public var regressions: [Row] { rows.filter(\.regression) }
    public var changed: [Row] { rows.filter { $0.base != $0.new } }

    /// `maxRegression`: the fraction by which a figure may get worse (0.1 = 10%).
    public init(base: Report, new: Report, maxRegression: Double) {
        self.maxRegression = maxRegression
        rows = ReportComparison.metrics.map { m in
            let b = (try? ReportMetrics.measure(metric: m.metric, aggregation: m.aggregation, in: base)) ?? nil
            let n = (try? ReportMetrics.measure(metric: m.metric, aggregation: m.aggregation, in: new)) ?? nil
            return ReportComparison.row(m, base: b, new: n, maxRegression: maxRegression)
        }
        notes = []
        if base.scenario != new.scenario { notes.append("scenarios differ: \"\(base.scenario)\" and \"\(new.scenario)\"") }
        if base.seed != new.seed { notes.append("seeds differ: \(base.seed) and \(new.seed)") }
        if base.mode != new.mode { notes.append("modes differ: \(base.mode) and \(new.mode)") }
        if let i = new.incomplete { notes.append("the new run is incomplete: \(i)") }
        var changes: [(String, Bool?, Bool?)] = []
        for t in new.thresholds {
            let b = base.thresholds.first { $0.metric == t.metric && $0.expression == t.expression }
            if b?.ok != t.ok { changes.append(("\(t.metric): \(t.expression)", b?.ok, t.ok)) }
        }
        thresholdChanges = changes
    }

    static func row(_ m: Metric, base: Double?, new: Double?, maxRegression: Double) -> Row {
        guard let base, let new else {
            return Row(name: m.name, base: base, new: new, change: nil, worsening: 0, regression: false, direction: m.direction)
        }
        let change: Double
        if base == new { change = 0 }
        else if base == 0 || !base.isFinite { change = new > base ? .infinity : -.infinity }
        else { change = (new - base) / abs(base) }
        let worsening: Double
        switch m.direction {
        case .lowerIsBetter: worsening = change
        case .higherIsBetter: worsening = -change
        case .neutral: worsening = 0
        }
        return Row(name: m.name, base: base, new: new, change: change, worsening: worsening,
                   regression: worsening > maxRegression + 1e-12, direction: m.direction)
    }

    /// The changed figures as an aligned text table, regressions marked.
    public func table() -> String {
        var lines: [[String]] = [["metric", "base", "new", "change", ""]]
        for r in changed {
            let verdict: String
            if r.regression { verdict = "REGRESSION" }
            else if r.direction == .neutral || r.worsening == 0 { verdict = "" }
            else if r.worsening > 0 { verdict = "worse (within \(TextRenderer.format(maxRegression * 100))%)" }
            else { verdict = "better" }
            lines.append([r.name, Self.value(r.base), Self.value(r.new), Self.change(r.change), verdict])
        }
        var out = ""
        if lines.count == 1 { out += "No metric changed.\n" } else {
            let widths = (0..<5).map { c in lines.map { $0[c].count }.max()! }
            for l in lines {
                out += (0..<5).map { c in c == 0 ? l[c].padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - l[c].count) + l[c] }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            }
            let same = rows.count - changed.count
            if same > 0 { out += "(\(same) other metrics unchanged)\n" }
        }
        for t in thresholdChanges {
            out += "threshold \(t.name): \(Self.verdict(t.base)) → \(Self.verdict(t.new))\n"
        }
        for n in notes { out += "note: \(n)\n" }
        return out
    }

    static func verdict(_ ok: Bool?) -> String { ok.map { $0 ? "pass" : "FAIL" } ?? "—" }

    static func value(_ v: Double?) -> String {
        guard let v else { return "—" }
        if v.isInfinite { return v > 0 ? "∞" : "-∞" }
        return TextRenderer.format(v)
    }

    static func change(_ c: Double?) -> String {
        guard let c else { return "" }
        if c.isInfinite { return c > 0 ? "+∞" : "-∞" }
        return String(format: "%+.1f%%", c * 100)
    }

    /// Reads `10%` or `0.1` as 0.1. A bare number of 1 or more is refused (is `10` ten percent
    /// or ten times?).
    public static func parseBound(_ text: String) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%"), let v = Double(t.dropLast()), v >= 0, v.isFinite { return v / 100 }
        if let v = Double(t), v >= 0, v < 1 { return v }
        throw ReportError("--max-regression: expected a percentage like \"10%\" (or a fraction like 0.1), got \"\(text)\"")
    }
}
