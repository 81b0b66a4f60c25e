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
        run.absorb(loops.indices.map { loops[$0].handOver() }, at: 10 * second)
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

    /// Loops that each count their busiest second would report 2 + 2 attempts per second here;
    /// the fleet never began more than 2 in one second.
    @Test func theBusiestSecondIsTheFleetsNotASumOfTheLoops() {
        var loops = (0..<2).map { _ in var r = Recorder(interval: 10 * second, groups: 1); r.handsOver = true; return r }
        for k in 0..<2 { loops[0].attempt(at: 1 * second + Int64(k)); loops[1].attempt(at: 2 * second + Int64(k)) }
        // One second split by a hand-over: 1 + 2 attempts in second 9 are its 3.
        loops[0].attempt(at: 9 * second)
        var run = Recorder(interval: 5 * second, groups: 1)
        run.absorb(loops.indices.map { loops[$0].handOver() }, at: 9 * second + 1)
        loops[1].attempt(at: 9 * second + 2); loops[1].attempt(at: 9 * second + 3)
        run.absorb(loops.indices.map { loops[$0].handOver() }, at: 10 * second)
        run.closeInterval(at: 10 * second, backend: .init())
        #expect(run.report(info, durationS: 10).storm.peakReconnectRatePerS == 3)
    }

    /// A crash seen by two loops, its losses straddling a second (and, at a high time scale,
    /// spread over several scenario seconds), is one mass disconnect of all its devices; the
    /// devices' returns over both loops say when it was half and 95% back.
    @Test func lossesOnEveryLoopWithinTheWindowAreOneMassDisconnect() {
        var run = Recorder(interval: 60 * second, groups: 1)
        var parts: [Recorder.Part] = []
        for k in 0..<2 {
            var r = Recorder(interval: 60 * second, groups: 1)
            r.handsOver = true
            for _ in 0..<20 { r.joined(group: 0); r.online(group: 0, initial: true) }
            var part = r.handOver()
            // 10 losses per loop from t = 9.9 s to 12.6 s; each device back 5 s (loop 0) or 15 s (loop 1) later.
            for j in 0..<10 {
                let t = 9_900_000_000 + Int64(j) * 300_000_000
                part.losses.append(.init(t: t, cause: .lost))
                part.returns.append(.init(lostAt: t, backAt: t + Int64(5 + 10 * k) * second))
            }
            parts.append(part)
        }
        run.absorb(parts, at: 60 * second, window: 30 * second)
        run.closeInterval(at: 60 * second, backend: .init())
        let episodes = run.report(info, durationS: 60).storm.massDisconnects
        #expect(episodes.count == 1)
        #expect(episodes.first?.devices == 20 && episodes.first?.tS == 9.9)
        // Half back when loop 0's last device is (9.9 + 2.7 + 5 = 17.6 s); 95% at loop 1's 19th (9.9 + 2.4 + 15).
        #expect(abs((episodes.first?.to50PctS ?? 0) - 7.7) < 1e-9)
        #expect(abs((episodes.first?.to95PctS ?? 0) - 17.4) < 1e-9)
    }

    /// Losses farther apart than the window, or too few, are not one mass disconnect; returns
    /// handed over after the cluster closed still count.
    @Test func aClusterIsJudgedOnceItsWindowHasPassed() {
        var run = Recorder(interval: 10 * second, groups: 1)
        var loop = Recorder(interval: 10 * second, groups: 1)
        loop.handsOver = true
        for _ in 0..<100 { loop.joined(group: 0); loop.online(group: 0, initial: true) }
        var part = loop.handOver()
        for j in 0..<12 { part.losses.append(.init(t: 5 * second + Int64(j), cause: .dropSessions)) }
        part.losses.append(.init(t: 8 * second, cause: .lost))   // alone, 3 s later
        run.absorb([part], at: 10 * second, window: second)
        var later = loop.handOver()
        for j in 0..<12 { later.returns.append(.init(lostAt: 5 * second + Int64(j), backAt: 12 * second + Int64(j))) }
        run.absorb([later], at: 20 * second, window: second, final: true)
        run.closeInterval(at: 20 * second, backend: .init())
        let episodes = run.report(info, durationS: 20).storm.massDisconnects
        #expect(episodes.map(\.cause) == ["drop-sessions"] && episodes.first?.devices == 12)
        #expect(episodes.first?.to95PctS != nil && episodes.first!.to95PctS! > 7)
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

/// Live shard reports keep each interval's handshakes: their merge gives the interval
/// percentiles of all the samples, as one run of the whole fleet records them.
@Test func mergedShardsIntervalPercentilesAreThoseOfAllSamples() throws {
    func run(_ samplesMs: [[Int64]]) -> Report {
        var r = Recorder(interval: 10 * second, groups: 1)
        r.keepsIntervalHistograms = true
        for (k, interval) in samplesMs.enumerated() {
            for ms in interval { r.handshake(nanoseconds: ms * 1_000_000) }
            r.closeInterval(at: Int64(k + 1) * 10 * second, backend: .init())
        }
        return r.report(info, durationS: Double(samplesMs.count) * 10)
    }
    let a: [[Int64]] = [[10, 20, 30], [100]], b: [[Int64]] = [[400, 500, 600, 700], [1, 2, 3]]
    let merged = try ReportMerge.merge([run(a), run(b)])
    let whole = run(zip(a, b).map { $0 + $1 })
    #expect(merged.series.handshakeP50Ms == whole.series.handshakeP50Ms)
    #expect(merged.series.handshakeP99Ms == whole.series.handshakeP99Ms)
    // Not the larger shard's: the whole fleet's median of the first interval is 400 ms, shard b's 500.
    #expect(merged.series.handshakeP50Ms[0] == 400)
    #expect(merged.histograms.handshakeUsByInterval == whole.histograms.handshakeUsByInterval)
    // A simulation's reports keep none: the merge falls back to the larger shard's, an upper bound.
    var plain = [run(a), run(b)]
    for i in plain.indices { plain[i].histograms.handshakeUsByInterval = nil }
    #expect(try ReportMerge.merge(plain).series.handshakeP50Ms[0] == max(run(a).series.handshakeP50Ms[0]!, run(b).series.handshakeP50Ms[0]!))
}
