import Testing
@testable import LoadReport

private let second: Int64 = 1_000_000_000
private let info = Recorder.RunInfo(mode: "live", scenario: "parts", seed: 1, clockStart: nil, devices: 4, thresholds: [])

/// A live run's one recorder: loops hand over their counts, the coordinator closes each interval once.
@Suite struct RecorderPartsTests {
    /// Two loops, two devices each, all connecting at t = 1 s with different handshake times.
    static func loops() -> [Recorder] {
        (0..<2).map { k in
            var r = Recorder(interval: 10 * second, groups: 1)
            for j in 0..<2 {
                r.joined(group: 0, connecting: true)
                r.attempt(at: second)
                r.handshake(nanoseconds: Int64(1 + 2 * k + j) * 100_000_000)   // 100, 200 | 300, 400 ms
                r.online(group: 0, initial: false)
                r.settled(group: 0)
            }
            return r
        }
    }

    @Test func theBackendSampleIsTakenOnceAndTheLoopsCountsAddUp() {
        var loops = Self.loops()
        var run = Recorder(interval: 10 * second, groups: 1)
        run.absorb(loops.indices.map { loops[$0].handOver() })
        run.closeInterval(at: 10 * second, backend: .init(pendingHandshakes: 7))
        let report = run.report(info, durationS: 10)
        #expect(report.series.pendingHandshakes == [7], "the backend's own figure, not one per loop")
        #expect(report.series.online == [4] && report.series.eligible == [4])
        #expect(report.series.connectAttempts == [4] && report.summary.connects == 4)
        // The interval's percentiles are those of all four samples (a loop alone has 100–200 or 300–400 ms).
        #expect(report.series.handshakeP99Ms.first! != nil && report.series.handshakeP99Ms.first!! > 350)
        #expect(report.series.handshakeP50Ms.first!! > 150 && report.series.handshakeP50Ms.first!! < 350)
        #expect(report.storm.peakReconnectRatePerS == 4)
        // Handed over once: the loops count afresh.
        #expect(loops[0].currentCounters == Recorder.Counters())
    }

    @Test func aDeviceInItsFirstHandshakeIsNotYetMissing() {
        var r = Recorder(interval: 10 * second, groups: 1)
        for _ in 0..<10 { r.joined(group: 0, connecting: true) }
        for _ in 0..<6 { r.online(group: 0, initial: false); r.settled(group: 0) }
        r.settled(group: 0)   // one first attempt failed: that device is missing
        r.closeInterval(at: 10 * second, backend: .init())
        #expect(r.onlineFraction == 6.0 / 7.0)
        #expect(r.report(info, durationS: 10).series.eligible == [7])
    }
}

@Test func mergedShardsReportOneBackendsPendingHandshakes() throws {
    let shards = (0..<2).map { _ in
        var r = Recorder(interval: 10 * second, groups: 1)
        r.closeInterval(at: 10 * second, backend: .init(pendingHandshakes: 5))
        return r.report(info, durationS: 10)
    }
    #expect(try ReportMerge.merge(shards).series.pendingHandshakes == [5], "copies of one scrape, not two backends")
}
