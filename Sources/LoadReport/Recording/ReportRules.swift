import Foundation
import Histogram

/// The rules that turn what a run measured into its summary: one home for every driver (the
/// simulation, the live runner's event loops) and for the merge of shard reports, so a merged
/// report says what one run of the whole fleet would have said.
public enum ReportRules {
    /// The online fraction of each interval: devices online over devices eligible (joined, and on
    /// firmware the backend lets in); 1 when none is eligible.
    public static func onlineFractions(_ series: Report.Series) -> [Double] {
        zip(series.online, series.eligible).map { $1 == 0 ? 1.0 : Double($0) / Double($1) }
    }

    /// The lowest online fraction, counted from the first interval at ≥ 95% online, so a cold
    /// start's ramp is not an outage. nil for an empty series.
    public static func onlineMinimum(_ fractions: [Double]) -> Double? {
        guard !fractions.isEmpty else { return nil }
        let established = fractions.firstIndex { $0 >= 0.95 } ?? 0
        return fractions[established...].min()
    }

    /// From the last timeline event after the last collapse (the mitigation) to the recovery;
    /// from the collapse itself when the fleet recovered on its own. nil: no recovery after a collapse.
    public static func recoverySeconds(_ milestones: [Report.Milestone]) -> Double? {
        guard let recovered = milestones.last(where: { $0.kind == .recovered }),
              let collapse = milestones.last(where: { $0.kind == .fleetCollapse && $0.tS <= recovered.tS })
        else { return nil }
        let mitigation = milestones.last { $0.kind == .timeline && $0.tS >= collapse.tS && $0.tS <= recovered.tS }
        return recovered.tS - (mitigation?.tS ?? collapse.tS)
    }

    /// Connect attempts per successful connect (1.0: no retries); nil before any connect.
    public static func retryAmplification(attempts: Int, connects: Int) -> Double? {
        connects == 0 ? nil : Double(attempts) / Double(connects)
    }

    /// The nearest-rank percentile (the smallest value with at least p% of the values at or below
    /// it), as the HdrHistogram and the per-interval latency buckets compute theirs; nil when empty.
    public static func percentile(_ values: [Double], _ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = max(1, Int((p / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }

    /// The one median: the 50th nearest-rank percentile, the lower of the two middle values of an
    /// even count (a value that was measured, never an average of two). nil when empty.
    public static func median(_ values: [Double]) -> Double? { percentile(values, 50) }

    /// The median time back of mass disconnects; an episode that never got back counts as
    /// slower than every one that did (so the median may be "never": nil).
    public static func medianTimeBack(_ values: [Double?]) -> Double? {
        guard let m = median(values.map { $0 ?? .infinity }) else { return nil }
        return m.isFinite ? m : nil
    }

    /// Storm metrics from a run's episodes and totals.
    public static func storm(episodes: [Report.MassDisconnect], attempts: Int, connects: Int,
                             peakReconnectRatePerS: Double) -> Report.Storm {
        Report.Storm(retryAmplification: retryAmplification(attempts: attempts, connects: connects),
                     peakReconnectRatePerS: peakReconnectRatePerS,
                     massDisconnects: episodes,
                     timeTo50PctSMedian: medianTimeBack(episodes.map(\.to50PctS)),
                     timeTo95PctSMedian: medianTimeBack(episodes.map(\.to95PctS)))
    }

    /// Handshake percentiles in milliseconds from the run's HdrHistogram (microseconds): the
    /// one source of `summary.handshake_ms`, the `handshake_ms` thresholds and merged reports.
    public static func percentiles(_ h: Histogram<UInt64>) -> Report.Percentiles {
        guard h.totalCount > 0 else { return Report.Percentiles(count: 0, p50: nil, p90: nil, p99: nil, max: nil) }
        return Report.Percentiles(count: h.totalCount, p50: percentileMs(h, 50), p90: percentileMs(h, 90),
                                  p99: percentileMs(h, 99), max: Double(h.maxRecorded) / 1_000)
    }

    /// A latency percentile in milliseconds from the run's HdrHistogram (microseconds): what
    /// `summary.handshake_ms` reports and what a `handshake_ms` threshold or comparison reads.
    public static func percentileMs(_ h: Histogram<UInt64>, _ p: Double) -> Double {
        Double(h.valueAtPercentile(p)) / 1_000
    }

    /// Database utilisation: the peak and the mean of the interval values.
    public static func utilization(_ series: Report.Series) -> (max: Double, mean: Double)? {
        let u = series.dbUtilization
        guard !u.isEmpty else { return nil }
        return (u.max()!, u.reduce(0, +) / Double(u.count))
    }
}
