import Foundation
import Histogram

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
        case counter(summary: KeyPath<Report.Summary, Int> & Sendable, series: String)
        /// One number for the run (`recovery_s`).
        case single(@Sendable (Report) -> Double?)
        /// A per-interval series, with summary figures where the engine measured them more finely.
        case series(String, max: (@Sendable (Report) -> Double?)? = nil, avg: (@Sendable (Report) -> Double?)? = nil)
    }

    static let singles: [String: @Sendable (Report) -> Double?] = [
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

    static let counters: [String: (KeyPath<Report.Summary, Int> & Sendable, String)] = [
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
        case .percentile(let p): return ReportRules.percentileMs(h, p)
        case .med: return ReportRules.percentileMs(h, 50)
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
        case .med: return ReportRules.median(v)
        case .percentile(let p): return ReportRules.percentile(v, p)
        default: return nil
        }
    }

}
