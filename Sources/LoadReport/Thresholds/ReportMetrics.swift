import Foundation
import Histogram

/// A threshold that cannot be evaluated: an expression that does not parse, a metric the report
/// does not have, an aggregation the metric does not support. Input errors (exit 2), reported with
/// the threshold's location by the caller.
public struct ThresholdError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A parsed k6-style condition: `p99 < 500`, `p(95) <= 200`, `max < 5000`, `min > 0.95`,
/// `count == 0`, `value < 1800`, `avg < 40%`.
///
/// Grammar: `[aggregation] operator number[%]`. The aggregation may be left out for metrics that
/// are a single value (`recovery_s: ["< 1800"]`).
public struct ThresholdExpression: Equatable, Sendable {
    public enum Aggregation: Equatable, Hashable, Sendable, CustomStringConvertible {
        case value, count, sum, rate, min, max, avg, med, final
        /// A percentile, 0…100: `p99`, `p(99.9)`.
        case percentile(Double)

        public var description: String {
            switch self {
            case .percentile(let p): return "p(\(TextRenderer.format(p)))"
            case .value: return "value"
            case .count: return "count"
            case .sum: return "sum"
            case .rate: return "rate"
            case .min: return "min"
            case .max: return "max"
            case .avg: return "avg"
            case .med: return "med"
            case .final: return "final"
            }
        }

        /// Names as written; `mean` and `last` are accepted aliases.
        static let named: [String: Aggregation] = [
            "value": .value, "count": .count, "sum": .sum, "rate": .rate, "min": .min, "max": .max,
            "avg": .avg, "mean": .avg, "med": .med, "median": .med, "final": .final, "last": .final,
        ]
    }

    public enum Operator: String, CaseIterable, Sendable {
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "==", notEqual = "!="

        func holds(_ a: Double, _ b: Double) -> Bool {
            switch self {
            case .less: return a < b
            case .lessOrEqual: return a <= b
            case .greater: return a > b
            case .greaterOrEqual: return a >= b
            case .equal: return a == b
            case .notEqual: return a != b
            }
        }
    }

    /// nil: not written (the metric's single value).
    public var aggregation: Aggregation?
    public var comparison: Operator
    public var bound: Double

    public init(aggregation: Aggregation?, comparison: Operator, bound: Double) {
        self.aggregation = aggregation
        self.comparison = comparison
        self.bound = bound
    }

    static let example = "expected a condition like \"p99 < 500\", \"max < 5000\", \"min > 0.95\" or \"count == 0\""

    public static func parse(_ text: String) throws -> ThresholdExpression {
        let s = Array(text.trimmingCharacters(in: .whitespaces))
        var i = 0
        func skipSpaces() { while i < s.count && s[i] == " " { i += 1 } }

        // Aggregation: a word, optionally with a parenthesised argument (`p(95)`).
        var aggregation: Aggregation?
        var word = ""
        while i < s.count && (s[i].isLetter || s[i] == "_" || (!word.isEmpty && (s[i].isNumber || s[i] == "."))) {
            word.append(s[i]); i += 1
        }
        if !word.isEmpty {
            skipSpaces()
            var argument: String?
            if i < s.count && s[i] == "(" {
                guard let close = s[i...].firstIndex(of: ")") else {
                    throw ThresholdError("\"\(text)\": missing \")\" after \"\(word)(\"")
                }
                argument = String(s[(i + 1)..<close]).trimmingCharacters(in: .whitespaces)
                i = close + 1
            }
            aggregation = try parseAggregation(word.lowercased(), argument: argument, in: text)
        }

        skipSpaces()
        var op = ""
        while i < s.count && "<>=!".contains(s[i]) { op.append(s[i]); i += 1 }
        guard !op.isEmpty else {
            if word.isEmpty && i < s.count && (s[i].isNumber || s[i] == ".") {
                throw ThresholdError("\"\(text)\": \(example) (the comparison comes after the aggregation)")
            }
            throw ThresholdError("\"\(text)\": \(example)")
        }
        guard let comparison = Operator(rawValue: op) else {
            let hint = op == "=" ? "; did you mean \"==\"?" : op == "=<" ? "; did you mean \"<=\"?" : op == "=>" ? "; did you mean \">=\"?" : ""
            throw ThresholdError("\"\(text)\": unknown comparison \"\(op)\" (expected <, <=, >, >=, == or !=)\(hint)")
        }
        skipSpaces()
        var number = String(s[i...]).trimmingCharacters(in: .whitespaces)
        guard !number.isEmpty else { throw ThresholdError("\"\(text)\": expected a number after \"\(op)\"") }
        var scale = 1.0
        if number.hasSuffix("%") { number.removeLast(); scale = 0.01 }
        guard let value = Double(number.replacingOccurrences(of: "_", with: "")), value.isFinite,
              number.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) == true else {
            throw ThresholdError("\"\(text)\": expected a number after \"\(op)\", got \"\(String(s[i...]).trimmingCharacters(in: .whitespaces))\" (units are the metric's own: handshake_ms in milliseconds, recovery_s in seconds)")
        }
        return ThresholdExpression(aggregation: aggregation, comparison: comparison, bound: value * scale)
    }

    private static func parseAggregation(_ word: String, argument: String?, in text: String) throws -> Aggregation {
        if word == "p" {
            guard let argument, let p = Double(argument), p >= 0, p <= 100 else {
                throw ThresholdError("\"\(text)\": expected a percentile between 0 and 100 like p(95), got p(\(argument ?? ""))")
            }
            return .percentile(p)
        }
        if word.hasPrefix("p"), argument == nil, let p = Double(word.dropFirst()) {
            guard p >= 0, p <= 100 else {
                throw ThresholdError("\"\(text)\": expected a percentile between 0 and 100, got \(word)")
            }
            return .percentile(p)
        }
        if argument != nil { throw ThresholdError("\"\(text)\": only p(…) takes an argument") }
        guard let a = Aggregation.named[word] else {
            var message = "\"\(text)\": unknown aggregation \"\(word)\" (expected p99, p(95), min, max, avg, med, count, sum, rate, final or value)"
            if let close = closest(word, in: Array(Aggregation.named.keys) + ["p99", "p95", "p90", "p50"]) {
                message += "; did you mean \"\(close)\"?"
            }
            throw ThresholdError(message)
        }
        return a
    }

    /// A near miss by one or two edits.
    static func closest(_ word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(1, a.count) where !a.isEmpty {
                var previous = row[0]; row[0] = i
                for j in 1...max(1, b.count) where !b.isEmpty {
                    let old = row[j]
                    row[j] = Swift.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = old
                }
            }
            return row[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(word), Array($0))) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
    }
}

/// The metrics thresholds (and baselines) can name, and how each is measured from a report.
///
/// Everything comes from the report alone, so a re-rendered or merged report evaluates exactly as
/// the run did: latency from the stored HdrHistogram, fractions and utilisation from the series.
public enum ReportMetrics {
    /// How a metric is measured, which fixes the aggregations it supports.
    enum Kind {
        /// The handshake latency distribution (milliseconds).
        case latency
        /// Online devices over eligible ones, per interval; `min` is the summary's figure (after
        /// the fleet first reached 95%, so a cold start's ramp does not count as an outage).
        case onlineFraction
        /// A run total with a per-interval series of the same thing (`connect_attempts`).
        case counter(summary: KeyPath<Report.Summary, Int>, series: String)
        /// One number for the run (`recovery_s`).
        case single((Report) -> Double?)
        /// A per-interval series, with summary figures where the engine measured them more finely.
        case series(String, max: ((Report) -> Double?)? = nil, avg: ((Report) -> Double?)? = nil)
    }

    static let singles: [String: (Report) -> Double?] = [
        "recovery_s": recovery,
        "retry_amplification": { $0.storm.retryAmplification },
        "peak_reconnect_rate_per_s": { $0.storm.peakReconnectRatePerS },
        "time_to_50pct_s": { $0.storm.timeTo50PctSMedian },
        "time_to_95pct_s": { $0.storm.timeTo95PctSMedian },
        "mass_disconnects": { Double($0.storm.massDisconnects.count) },
        "devices": { Double($0.summary.devices) },
        "duration_s": { $0.summary.durationS },
        "online_fraction_min": { $0.summary.onlineFractionMin },
        "online_fraction_final": { $0.summary.onlineFractionFinal },
        "db_utilization_max": { $0.summary.dbUtilizationMax },
        "db_utilization_mean": { $0.summary.dbUtilizationMean },
        "backend_memory_peak_bytes": { Double($0.summary.backendMemoryPeakBytes) },
        "events_processed": { $0.summary.eventsProcessed.map(Double.init) },
        "wall_s": { $0.summary.wallS },
    ]

    static let counters: [String: (KeyPath<Report.Summary, Int>, String)] = [
        "connect_attempts": (\.connectAttempts, "connect_attempts"),
        "connects": (\.connects, "connects"),
        "disconnects": (\.disconnects, "disconnects"),
        "handshake_timeouts": (\.handshakeTimeouts, "handshake_timeouts"),
        "ack_timeouts": (\.ackTimeouts, "ack_timeouts"),
        "rejects": (\.rejects, "rejects"),
        "backend_crashes": (\.backendCrashes, "crashes"),
    ]

    /// The series of `Report.Series` by JSON name, found by encoding an empty one: a series added to
    /// the report later (scraped backend metrics) can be named in a threshold without a change here.
    static let seriesNames: [String] = {
        guard let data = try? JSONEncoder().encode(Report.Series(intervalS: 1)),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        return object.filter { $0.value is [Any] && $0.key != "t_s" }.map(\.key).sorted()
    }()

    static func kind(of metric: String) -> Kind? {
        switch metric {
        case "handshake_ms": return .latency
        case "online_fraction": return .onlineFraction
        case "db_utilization":
            return .series("db_utilization", max: { $0.summary.dbUtilizationMax }, avg: { $0.summary.dbUtilizationMean })
        case "backend_memory_bytes":
            return .series("backend_memory_bytes", max: { Double($0.summary.backendMemoryPeakBytes) })
        default: break
        }
        if let c = counters[metric] { return .counter(summary: c.0, series: c.1) }
        if let s = singles[metric] { return .single(s) }
        if seriesNames.contains(metric) { return .series(metric) }
        return nil
    }

    /// Every name a threshold may use.
    public static var names: [String] {
        Array(Set(["handshake_ms", "online_fraction"] + counters.keys + singles.keys + seriesNames)).sorted()
    }

    static func supported(_ kind: Kind) -> String {
        switch kind {
        case .latency: return "p(N), pN, med, min, max, avg, count"
        case .onlineFraction: return "min, max, avg, final, p(N)"
        case .counter: return "count (the run's total, also value or sum), rate (per second), or per interval: min, max, avg, med, final, p(N)"
        case .single: return "value"
        case .series: return "min, max, avg, med, final, sum, p(N)"
        }
    }

    /// Checks that `metric` exists and supports `aggregation` (nil: the metric's single value).
    public static func check(metric: String, aggregation: ThresholdExpression.Aggregation?) throws {
        guard let kind = kind(of: metric) else {
            var message = "unknown metric \"\(metric)\""
            if let close = ThresholdExpression.closest(metric, in: names) { message += "; did you mean \"\(close)\"?" }
            else { message += " (metrics: \(names.joined(separator: ", ")))" }
            throw ThresholdError(message)
        }
        guard isSupported(aggregation, by: kind) else {
            let written = aggregation.map { "\"\($0)\"" } ?? "a condition without an aggregation"
            throw ThresholdError("\(metric) does not support \(written) (it supports \(supported(kind)))")
        }
    }

    static func isSupported(_ a: ThresholdExpression.Aggregation?, by kind: Kind) -> Bool {
        switch (kind, a) {
        case (.single, nil), (.single, .value?), (.counter, nil): return true
        case (.single, _), (_, nil): return false
        case (.latency, let a?): return [.min, .max, .avg, .med, .count].contains(a) || { if case .percentile = a { return true }; return false }()
        case (.onlineFraction, let a?): return [.min, .max, .avg, .final, .med].contains(a) || { if case .percentile = a { return true }; return false }()
        case (.counter, .value?), (.counter, .count?), (.counter, .sum?), (.counter, .rate?): return true
        case (.counter, let a?), (.series, let a?):
            return [.min, .max, .avg, .med, .final, .sum].contains(a) || { if case .percentile = a { return true }; return false }()
        }
    }

    /// The measured value; nil when the report has nothing to measure (no handshakes, no intervals).
    public static func measure(metric: String, aggregation: ThresholdExpression.Aggregation?, in report: Report) throws -> Double? {
        try check(metric: metric, aggregation: aggregation)
        let aggregation = aggregation ?? .value
        switch kind(of: metric)! {
        case .latency:
            return latency(report.histograms.handshakeUs, aggregation)
        case .onlineFraction:
            let fractions = zip(report.series.online, report.series.eligible).map { $1 == 0 ? 1.0 : Double($0) / Double($1) }
            switch aggregation {
            case .min: return report.summary.onlineFractionMin
            case .final: return report.summary.onlineFractionFinal
            default: return aggregate(fractions.map { Optional($0) }, aggregation)
            }
        case .counter(let summary, let series):
            switch aggregation {
            case .count, .value, .sum: return Double(report.summary[keyPath: summary])
            case .rate:
                return report.summary.durationS > 0 ? Double(report.summary[keyPath: summary]) / report.summary.durationS : nil
            default: return aggregate(seriesValues(series, in: report), aggregation)
            }
        case .single(let f):
            return f(report)
        case .series(let name, let max, let avg):
            if aggregation == .max, let max { return max(report) }
            if aggregation == .avg, let avg { return avg(report) }
            return aggregate(seriesValues(name, in: report), aggregation)
        }
    }

    /// Seconds from the last mitigation to recovery; 0 when the fleet never collapsed (nothing to
    /// recover from); +∞ when it collapsed and never recovered (fails any upper bound).
    static func recovery(_ report: Report) -> Double? {
        if let r = report.summary.recoveryS { return r }
        guard let collapse = report.milestones.last(where: { $0.kind == .fleetCollapse }) else { return 0 }
        let recovered = report.milestones.contains { $0.kind == .recovered && $0.tS >= collapse.tS }
        return recovered ? nil : .infinity
    }

    static func latency(_ h: Histogram<UInt64>, _ a: ThresholdExpression.Aggregation) -> Double? {
        if a == .count { return Double(h.totalCount) }
        guard h.totalCount > 0 else { return nil }
        let us: Double
        switch a {
        case .percentile(let p): us = Double(h.valueAtPercentile(p))
        case .med: us = Double(h.valueAtPercentile(50))
        case .min: us = Double(h.min)
        case .max: us = Double(h.maxRecorded)
        case .avg: us = h.mean
        default: return nil
        }
        return us / 1_000
    }

    /// A series by its JSON name, one value per interval (nil: not measured in that interval).
    public static func seriesValues(_ name: String, in report: Report) -> [Double?] {
        let s = report.series
        switch name {
        case "online": return s.online.map { Double($0) }
        case "eligible": return s.eligible.map { Double($0) }
        case "connects": return s.connects.map { Double($0) }
        case "disconnects": return s.disconnects.map { Double($0) }
        case "connect_attempts": return s.connectAttempts.map { Double($0) }
        case "handshake_timeouts": return s.handshakeTimeouts.map { Double($0) }
        case "ack_timeouts": return s.ackTimeouts.map { Double($0) }
        case "rejects": return s.rejects.map { Double($0) }
        case "crashes": return s.crashes.map { Double($0) }
        case "db_utilization": return s.dbUtilization.map { $0 }
        case "db_wait_s": return s.dbWaitS.map { $0 }
        case "pending_handshakes": return s.pendingHandshakes.map { Double($0) }
        case "backend_memory_bytes": return s.backendMemoryBytes.map { Double($0) }
        case "handshake_p50_ms": return s.handshakeP50Ms
        case "handshake_p99_ms": return s.handshakeP99Ms
        default:
            // A series this switch does not know yet: read it from the JSON form.
            guard let data = try? JSONEncoder().encode(s),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let values = object[name] as? [Any] else { return [] }
            return values.map { ($0 as? NSNumber)?.doubleValue }
        }
    }

    static func aggregate(_ values: [Double?], _ a: ThresholdExpression.Aggregation) -> Double? {
        let v = values.compactMap { $0 }
        guard !v.isEmpty else { return a == .sum ? 0 : nil }
        switch a {
        case .min: return v.min()
        case .max: return v.max()
        case .avg: return v.reduce(0, +) / Double(v.count)
        case .sum: return v.reduce(0, +)
        case .final: return values.last ?? nil
        case .med: return percentile(v, 50)
        case .percentile(let p): return percentile(v, p)
        default: return nil
        }
    }

    /// Nearest-rank percentile, as the histograms compute it.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        let rank = max(1, Int((p / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }
}

/// Evaluating a report's thresholds.
public enum Thresholds {
    /// Checks a threshold without a report: the expression parses and the metric supports its
    /// aggregation. Scenario validation calls this so that `fleetsim validate` catches mistakes.
    public static func check(metric: String, expression: String) throws {
        let e = try ThresholdExpression.parse(expression)
        try ReportMetrics.check(metric: metric, aggregation: e.aggregation)
    }

    /// The threshold with its measured value and verdict. A value that cannot be measured (no
    /// handshakes for `p99`) fails: a gate must not pass on missing data.
    public static func evaluate(_ threshold: Report.ThresholdResult, in report: Report) throws -> Report.ThresholdResult {
        let e = try ThresholdExpression.parse(threshold.expression)
        let value = try ReportMetrics.measure(metric: threshold.metric, aggregation: e.aggregation, in: report)
        var result = threshold
        result.value = value
        result.ok = value.map { !$0.isNaN && e.comparison.holds($0, e.bound) } ?? false
        return result
    }

    /// The failing thresholds among `watched` (those marked `abort_on_fail`), measured on a partial
    /// report: a live runner calls this at interval boundaries and stops the run on the first one.
    public static func abortingFailures(_ watched: [Report.ThresholdResult], in partial: Report) throws -> [Report.ThresholdResult] {
        try watched.map { try evaluate($0, in: partial) }.filter { $0.ok == false }
    }
}

extension Report {
    /// Evaluates every threshold on this report's data, replacing measured values and verdicts.
    /// Throws `ThresholdError` naming the threshold (`thresholds.handshake_ms: …`).
    public mutating func evaluateThresholds() throws {
        for i in thresholds.indices {
            do {
                thresholds[i] = try Thresholds.evaluate(thresholds[i], in: self)
            } catch let error as ThresholdError {
                throw ThresholdError("thresholds.\(thresholds[i].metric): \(error.message)")
            }
        }
    }

    /// True when every evaluated threshold held.
    public var thresholdsHeld: Bool { !thresholds.contains { $0.ok == false } }

}
