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
