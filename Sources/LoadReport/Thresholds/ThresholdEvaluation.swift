import Foundation

/// A threshold that cannot be evaluated: an expression that does not parse, a metric the report
/// does not have, an aggregation the metric does not support. Input errors (exit 2), reported with
/// the threshold's location by the caller.
public struct ThresholdError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
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
