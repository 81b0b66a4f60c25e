import Histogram

/// Records latencies in microseconds into an HdrHistogram: constant memory, no allocation per
/// sample, mergeable without loss (so shard reports combine exactly).
public struct LatencyRecorder: Sendable {
    public private(set) var histogram: Histogram<UInt64>

    /// Tracks 1 µs … 1 hour with 3 significant digits.
    public init() {
        histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000,
                                      numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
    }

    @inline(__always)
    public mutating func record(nanoseconds: Int64) {
        let us = UInt64(max(1, nanoseconds / 1_000))
        _ = histogram.record(us)
    }

    public mutating func reset() { histogram.reset() }

    public mutating func add(_ other: LatencyRecorder) { histogram.add(other.histogram) }

    public var count: UInt64 { histogram.totalCount }

    /// A percentile in milliseconds, nil when empty.
    public func percentileMs(_ p: Double) -> Double? {
        histogram.totalCount == 0 ? nil : Double(histogram.valueAtPercentile(p)) / 1_000
    }

    public var percentiles: Report.Percentiles {
        Report.Percentiles(count: histogram.totalCount, p50: percentileMs(50), p90: percentileMs(90),
                           p99: percentileMs(99), max: histogram.totalCount == 0 ? nil : Double(histogram.max) / 1_000)
    }
}
