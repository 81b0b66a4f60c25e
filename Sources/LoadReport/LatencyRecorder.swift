import Histogram

/// Records latencies on a hot path: a fixed array of log-linear buckets (exact below 2 ms,
/// then 1,024 sub-buckets per power of two: under 0.1% error, finer than the HdrHistogram's
/// three significant digits it feeds). Recording is an index computation and an increment:
/// no allocation, no generic code. `histogram` turns the counts into an HdrHistogram, the
/// lossless, mergeable form the report stores.
public struct LatencyRecorder: Sendable {
    static let subBits = 10
    static let subCount = 1 << subBits            // 1,024
    static let linear = 2 * subCount              // values below 2,048 µs are exact
    static let maxExponent = 32                   // covers values up to ~2^42 µs
    static let bucketCount = linear + (maxExponent - subBits - 1) * subCount

    private var counts: [UInt32]
    public private(set) var count: UInt64 = 0
    private var maxValue: UInt64 = 0
    /// The sum of the recorded values (µs), for a Prometheus histogram's `_sum`; from compact
    /// `Buckets`, the buckets' values.
    public private(set) var sumUs: UInt64 = 0

    public init() {
        counts = Array(repeating: 0, count: LatencyRecorder.bucketCount)
    }

    @inline(__always)
    static func index(_ us: UInt64) -> Int {
        if us < UInt64(linear) { return Int(us) }
        let exponent = 63 - us.leadingZeroBitCount            // >= 11
        let shift = exponent - subBits
        let sub = Int((us >> UInt64(shift)) & UInt64(subCount - 1))
        let i = linear + (exponent - subBits - 1) * subCount + sub
        return min(i, bucketCount - 1)
    }

    /// The value a bucket stands for (its midpoint), in microseconds.
    static func value(_ index: Int) -> UInt64 {
        if index < linear { return UInt64(index) }
        let k = index - linear
        let exponent = k / subCount + subBits + 1
        let sub = UInt64(k % subCount)
        let shift = UInt64(exponent - subBits)
        let low = (UInt64(subCount) | sub) << shift
        return low + (1 << shift) / 2
    }

    @inline(__always)
    public mutating func record(nanoseconds: Int64) {
        let us = UInt64(max(1, nanoseconds / 1_000))
        counts.withUnsafeMutableBufferPointer { $0[LatencyRecorder.index(us)] &+= 1 }
        count += 1
        sumUs &+= us
        if us > maxValue { maxValue = us }
    }

    public mutating func reset() {
        guard count > 0 else { return }
        for i in counts.indices { counts[i] = 0 }
        count = 0
        maxValue = 0
        sumUs = 0
    }

    public mutating func add(_ other: LatencyRecorder) {
        for i in counts.indices where other.counts[i] != 0 { counts[i] &+= other.counts[i] }
        count += other.count
        sumUs &+= other.sumUs
        maxValue = max(maxValue, other.maxValue)
    }

    /// How many values are at most each of `boundsUs` (ascending): a Prometheus histogram's
    /// cumulative buckets. A bucket counts under a bound when its whole range is (values are exact
    /// below 2 ms, within 0.1% above).
    public func cumulativeCounts(atMostUs boundsUs: [UInt64]) -> [UInt64] {
        var out = Array(repeating: UInt64(0), count: boundsUs.count)
        var b = 0, seen: UInt64 = 0
        for i in counts.indices where counts[i] != 0 {
            let v = min(LatencyRecorder.value(i), maxValue)
            while b < boundsUs.count && v > boundsUs[b] { out[b] = seen; b += 1 }
            seen += UInt64(counts[i])
        }
        while b < boundsUs.count { out[b] = seen; b += 1 }
        return out
    }

    /// A percentile in milliseconds, nil when empty.
    public func percentileMs(_ p: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, UInt64((p / 100 * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for i in counts.indices where counts[i] != 0 {
            seen += UInt64(counts[i])
            if seen >= rank { return Double(min(LatencyRecorder.value(i), maxValue)) / 1_000 }
        }
        return Double(maxValue) / 1_000
    }

    public var percentiles: Report.Percentiles {
        Report.Percentiles(count: count, p50: percentileMs(50), p90: percentileMs(90), p99: percentileMs(99),
                           max: count == 0 ? nil : Double(maxValue) / 1_000)
    }

    /// The layout of every handshake histogram: microseconds, 1 µs to 1 h (growing past it), 3
    /// significant digits.
    public static var emptyHistogram: Histogram<UInt64> {
        var h = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000,
                                  numberOfSignificantValueDigits: .three)
        h.autoResize = true
        return h
    }

    /// The counts in a compact, lossless form: the non-empty buckets of this layout, and the
    /// largest value. What a live report keeps per interval, so that shards' interval percentiles
    /// merge into those of all their samples (`ReportMerge`).
    public struct Buckets: Codable, Sendable, Equatable {
        public var maxUs: UInt64
        /// `[bucket index, count]` per non-empty bucket, in index order.
        public var counts: [[UInt64]]
        enum CodingKeys: String, CodingKey { case maxUs = "max_us", counts }
    }

    public var buckets: Buckets {
        var out: [[UInt64]] = []
        for i in counts.indices where counts[i] != 0 { out.append([UInt64(i), UInt64(counts[i])]) }
        return Buckets(maxUs: maxValue, counts: out)
    }

    /// The recorder holding `buckets` (indices outside the layout are ignored).
    public init(_ buckets: Buckets) {
        self.init()
        for b in buckets.counts where b.count == 2 && b[0] < UInt64(LatencyRecorder.bucketCount) {
            counts[Int(b[0])] &+= UInt32(truncatingIfNeeded: b[1])
            count += b[1]
            sumUs &+= LatencyRecorder.value(Int(b[0])) &* b[1]
        }
        if count > 0 { maxValue = buckets.maxUs }
    }

    /// The recorded values as an HdrHistogram (microseconds, 3 significant digits).
    public var histogram: Histogram<UInt64> {
        var h = LatencyRecorder.emptyHistogram
        for i in counts.indices where counts[i] != 0 {
            let v = i == LatencyRecorder.index(maxValue) ? maxValue : LatencyRecorder.value(i)
            _ = h.record(v, count: UInt64(counts[i]))
        }
        return h
    }
}
