import Foundation
import Testing
@testable import LoadReport

@Test func percentilesAreWithinATenthOfAPercent() {
    var r = LatencyRecorder()
    for us in 1...100_000 { r.record(nanoseconds: Int64(us) * 1_000) }
    #expect(r.count == 100_000)
    let p50 = r.percentileMs(50)!, p99 = r.percentileMs(99)!
    #expect(abs(p50 - 50) / 50 < 0.001)
    #expect(abs(p99 - 99) / 99 < 0.001)
    #expect(r.percentiles.max == 100)
    let h = r.histogram
    #expect(h.totalCount == 100_000)
    #expect(abs(Double(h.valueAtPercentile(99)) / 1000 - 99) / 99 < 0.002)
}

@Test func emptyRecordersReportNothing() {
    let r = LatencyRecorder()
    #expect(r.percentileMs(50) == nil && r.percentiles.p99 == nil && r.count == 0)
}

@Test func mergingAddsCounts() {
    var a = LatencyRecorder(), b = LatencyRecorder()
    for v in 0..<1_000 { a.record(nanoseconds: Int64(v) * 1_000_000) }
    for v in 1_000..<2_000 { b.record(nanoseconds: Int64(v) * 1_000_000) }
    a.add(b)
    #expect(a.count == 2_000)
    #expect(abs(a.percentileMs(50)! - 1_000) / 1_000 < 0.002)
}

/// The compact form a live report keeps per interval gives back the same recorder: the same
/// percentiles, count and maximum.
@Test func bucketsRoundTrip() throws {
    var r = LatencyRecorder()
    for v in [1, 7, 7, 1_999, 2_048, 40_000, 3_000_000, 86_400_000] as [Int64] { r.record(nanoseconds: v * 1_000) }
    let data = try JSONEncoder().encode(r.buckets)
    let back = LatencyRecorder(try JSONDecoder().decode(LatencyRecorder.Buckets.self, from: data))
    #expect(back.count == r.count)
    for p in [0.0, 10, 50, 90, 99, 100] { #expect(back.percentileMs(p) == r.percentileMs(p), "p\(p)") }
    #expect(back.percentiles == r.percentiles)
    #expect(back.buckets == r.buckets)
    #expect(LatencyRecorder(LatencyRecorder().buckets).count == 0)
}

/// A Prometheus histogram's cumulative buckets: how many values are at most each bound.
@Test func cumulativeCountsUnderBounds() {
    var r = LatencyRecorder()
    for us: Int64 in [500, 1_000, 1_500, 80_000, 2_000_000] { r.record(nanoseconds: us * 1_000) }
    #expect(r.cumulativeCounts(atMostUs: [100, 1_000, 5_000, 100_000, 1_000_000, 10_000_000]) == [0, 2, 3, 4, 4, 5])
    #expect(r.sumUs == 2_083_000)
}
