import Histogram
import Testing
@testable import LoadReport

private let second: Int64 = 1_000_000_000
private let minute: Int64 = 60 * second
private let info = Recorder.RunInfo(mode: "simulate", scenario: "recorder", seed: 1, clockStart: nil, devices: 0,
                                    thresholds: [])

/// A recorder of one-minute intervals whose `n` devices of group 0 joined and went online at once
/// (a warm fleet: no connects counted).
private func warmFleet(_ n: Int, groups: Int = 1) -> Recorder {
    var r = Recorder(interval: minute, groups: groups)
    for _ in 0..<n {
        r.joined(group: 0)
        r.online(group: 0, initial: true)
    }
    return r
}

/// `count` connect attempts at `t`, of which `connected` end online in `group`.
private func connect(_ r: inout Recorder, at t: Int64, count: Int, connected: Int, group: Int = 0) {
    for _ in 0..<count { r.attempt(at: t) }
    for _ in 0..<connected { r.online(group: group, initial: false) }
}

// MARK: Counters, series, totals

@Test func eventsAreCountedPerIntervalInTheSeriesAndAddUpInTheReport() {
    var r = warmFleet(100)
    for _ in 0..<7 { r.offline(group: 0) }
    connect(&r, at: 10 * second, count: 9, connected: 4)
    r.handshakeTimeout(); r.handshakeTimeout(); r.ackTimeout(); r.rejected()
    r.crash(at: 20 * second, detail: "gateway 0")
    r.closeInterval(at: minute, backend: .init(dbUtilization: 0.4, dbWaitS: 0.2, pendingHandshakes: 3, memoryBytes: 100))

    connect(&r, at: 70 * second, count: 5, connected: 3)
    r.rejected()
    r.closeInterval(at: 2 * minute, backend: .init(dbUtilization: 0.8, dbWaitS: 1.5, pendingHandshakes: 0, memoryBytes: 300))

    let s = r.series
    #expect(s.tS == [60, 120])
    #expect(s.online == [97, 100])
    #expect(s.eligible == [100, 100])
    #expect(s.connectAttempts == [9, 5])
    #expect(s.connects == [4, 3])
    #expect(s.disconnects == [7, 0])
    #expect(s.handshakeTimeouts == [2, 0])
    #expect(s.ackTimeouts == [1, 0])
    #expect(s.rejects == [1, 1])
    #expect(s.crashes == [1, 0])
    #expect(s.dbUtilization == [0.4, 0.8] && s.dbWaitS == [0.2, 1.5] && s.pendingHandshakes == [3, 0])
    #expect(s.backendMemoryBytes == [100, 300])

    let summary = r.report(info, durationS: 120).summary
    #expect(summary.connectAttempts == 14 && summary.connects == 7 && summary.disconnects == 7)
    #expect(summary.handshakeTimeouts == 2 && summary.ackTimeouts == 1 && summary.rejects == 2)
    #expect(summary.backendCrashes == 1)
    #expect(summary.dbUtilizationMax == 0.8 && abs(summary.dbUtilizationMean - 0.6) < 1e-12)
    #expect(summary.backendMemoryPeakBytes == 300)
    #expect(summary.onlineFractionMin == 0.97 && summary.onlineFractionFinal == 1)
}

@Test func aWarmDeviceIsOnlineWithoutAConnect() {
    var r = warmFleet(5)
    r.closeInterval(at: minute, backend: .init())
    #expect(r.series.online == [5] && r.series.connects == [0])
}

@Test func theIntervalsMemoryPeakCountsEvenWhenTheSampleIsLower() {
    var r = warmFleet(1)
    r.memory(900)
    r.memory(400)
    r.closeInterval(at: minute, backend: .init(memoryBytes: 200))
    #expect(r.report(info, durationS: 60).summary.backendMemoryPeakBytes == 900)
}

@Test func aBlockedGroupLeavesTheOnlineFractionsDenominator() {
    var r = Recorder(interval: minute, groups: 2)
    for _ in 0..<10 { r.joined(group: 0); r.online(group: 0, initial: true) }
    for _ in 0..<30 { r.joined(group: 1) }
    for _ in 0..<2 { r.online(group: 1, initial: true) }
    #expect(r.eligibleCount == 40 && r.eligibleOnline == 12)
    r.setBlocked(group: 1, true)
    #expect(r.eligibleCount == 10 && r.eligibleOnline == 10 && r.onlineFraction == 1)
    #expect(r.onlineDevices == 12)                                        // a block ends no session
    r.closeInterval(at: minute, backend: .init())
    r.setBlocked(group: 1, false)
    r.closeInterval(at: 2 * minute, backend: .init())
    #expect(r.series.eligible == [10, 40])
    #expect(r.series.online == [10, 12])
}

// MARK: Mass disconnects

@Test func anEpisodeNeedsTenDevices() {
    var r = warmFleet(500)
    #expect(r.beginEpisode(at: minute, cause: "small", onlineDropped: 9) == 0)
    #expect(r.beginEpisode(at: minute, cause: "gateway 1 crashed", onlineDropped: 10) == 1)
    #expect(r.report(info, durationS: 60).storm.massDisconnects.map(\.cause) == ["gateway 1 crashed"])
}

@Test func anEpisodeNeedsOnePercentOfTheEligibleFleet() {
    var r = warmFleet(5_000)
    #expect(r.beginEpisode(at: minute, cause: "a", onlineDropped: 49) == 0)
    #expect(r.beginEpisode(at: minute, cause: "b", onlineDropped: 50) == 1)
    r.setBlocked(group: 0, true)                                          // nobody eligible: 10 is enough
    #expect(r.beginEpisode(at: minute, cause: "c", onlineDropped: 10) == 2)
}

@Test func anEpisodeJustBelowOnePercentIsNotOne() {
    var r = warmFleet(1_999)
    #expect(r.beginEpisode(at: minute, cause: "a", onlineDropped: 19) == 0)
}

@Test func anEpisodesTimesBackComeFromTheDevicesThatReturn() throws {
    var r = warmFleet(1_000)
    let t0 = 10 * minute
    let e = Int(r.beginEpisode(at: t0, cause: "gateway 0 crashed", onlineDropped: 20))
    #expect(e == 1)
    for k in 0..<9 { r.back(episode: e, at: t0 + Int64(k + 1) * second) }    // 9 of 20: not half yet
    r.back(episode: e, at: t0 + 15 * second)                               // 10th: half
    for k in 0..<8 { r.back(episode: e, at: t0 + Int64(20 + k) * second) }   // 18 of 20
    r.back(episode: e, at: t0 + 40 * second)                               // 19th: 95%
    r.back(episode: e, at: t0 + 90 * second)
    let episode = try #require(r.report(info, durationS: 1_000).storm.massDisconnects.first)
    #expect(episode.tS == 600 && episode.devices == 20 && episode.cause == "gateway 0 crashed")
    #expect(episode.to50PctS == 15)
    #expect(episode.to95PctS == 40)
}

@Test func anEpisodeThatNeverGetsBackHasNoTimesAndMakesTheMedianNever() {
    var r = warmFleet(1_000)
    let a = Int(r.beginEpisode(at: minute, cause: "a", onlineDropped: 10))
    let b = Int(r.beginEpisode(at: 2 * minute, cause: "b", onlineDropped: 10))
    for _ in 0..<10 { r.back(episode: a, at: minute + 3 * second) }
    for _ in 0..<6 { r.back(episode: b, at: 2 * minute + 8 * second) }
    let storm = r.report(info, durationS: 300).storm
    #expect(storm.massDisconnects.map(\.to50PctS) == [3, 8])
    #expect(storm.massDisconnects.map(\.to95PctS) == [3, nil])
    #expect(storm.timeTo50PctSMedian == 3)                                // (n - 1) / 2: the lower of two
    #expect(storm.timeTo95PctSMedian == 3)
    let c = Int(r.beginEpisode(at: 3 * minute, cause: "c", onlineDropped: 10))
    #expect(c == 3)
    #expect(r.report(info, durationS: 300).storm.timeTo95PctSMedian == nil)  // 3, never, never
}

// MARK: Attempts and retries

@Test func thePeakAttemptRateIsTheBusiestWholeSecond() {
    var r = warmFleet(1)
    for t in [100, 200, 900] { r.attempt(at: Int64(t) * 1_000_000) }       // second 0: 3
    for t in [1_000, 1_500, 1_999, 1_999] { r.attempt(at: Int64(t) * 1_000_000) }   // second 1: 4
    for t in [2_000, 5_000] { r.attempt(at: Int64(t) * 1_000_000) }
    #expect(r.report(info, durationS: 10).storm.peakReconnectRatePerS == 4)
}

@Test func attemptsEitherSideOfASecondBoundaryAreDifferentSeconds() {
    var r = warmFleet(1)
    for t in [700, 800, 900, 1_100, 1_200, 1_300] { r.attempt(at: Int64(t) * 1_000_000) }
    #expect(r.report(info, durationS: 10).storm.peakReconnectRatePerS == 3)
}

@Test func retryAmplificationIsAttemptsPerConnect() {
    var r = warmFleet(10)
    for _ in 0..<5 { r.offline(group: 0) }
    #expect(r.report(info, durationS: 0).storm.retryAmplification == nil)   // no connect yet
    connect(&r, at: second, count: 12, connected: 4)
    r.closeInterval(at: minute, backend: .init())
    connect(&r, at: 61 * second, count: 3, connected: 1)
    #expect(r.report(info, durationS: 70).storm.retryAmplification == 3)
}

@Test func aReportMidRunCountsTheOpenIntervalInTotalsButNotInTheSeries() {
    var r = warmFleet(10)
    for _ in 0..<3 { r.offline(group: 0) }
    connect(&r, at: second, count: 3, connected: 1)
    r.closeInterval(at: minute, backend: .init())
    connect(&r, at: 61 * second, count: 2, connected: 2)
    r.ackTimeout()
    let report = r.report(info, durationS: 75)
    #expect(report.series.connectAttempts == [3])
    #expect(report.summary.connectAttempts == 5 && report.summary.connects == 3 && report.summary.ackTimeouts == 1)
    #expect(report.storm.retryAmplification == 5.0 / 3)
    // Asking for a report changes nothing: the interval closes with its own counts.
    r.closeInterval(at: 2 * minute, backend: .init())
    #expect(r.series.connectAttempts == [3, 2])
    #expect(r.report(info, durationS: 120).summary.connectAttempts == 5)
}

// MARK: Handshake latency

@Test func theSummaryHandshakePercentilesAreThoseOfTheStoredHistogram() {
    var r = warmFleet(1)
    for ms in 1...1_000 { r.handshake(nanoseconds: Int64(ms) * 1_000_000) }
    r.handshake(nanoseconds: 30 * second)
    let report = r.report(info, durationS: 60)
    let h = report.histograms.handshakeUs
    #expect(h.totalCount == 1_001)
    #expect(report.summary.handshakeMs == ReportRules.percentiles(h))
    let p = report.summary.handshakeMs
    #expect(abs(p.p50! - 501) / 501 < 0.002)
    #expect(abs(p.p99! - 991) / 991 < 0.002)
    #expect(abs(p.max! - 30_000) / 30_000 < 0.002)
}

@Test func intervalPercentilesCoverOnlyTheirInterval() {
    var r = warmFleet(1)
    for _ in 0..<100 { r.handshake(nanoseconds: 10_000_000) }
    r.closeInterval(at: minute, backend: .init())
    r.closeInterval(at: 2 * minute, backend: .init())
    for _ in 0..<100 { r.handshake(nanoseconds: 200_000_000) }
    r.closeInterval(at: 3 * minute, backend: .init())
    let p50 = r.series.handshakeP50Ms
    #expect(p50.count == 3 && p50[1] == nil)
    #expect(abs(p50[0]! - 10) < 0.05 && abs(p50[2]! - 200) < 0.5)
    #expect(r.report(info, durationS: 180).summary.handshakeMs.count == 200)
}

// MARK: Milestones and recovery

/// 1,000 warm devices: a collapse at minute 3, a mitigation at 4m30s, back at minute 5 and held.
private func collapseAndRecovery() -> Recorder {
    var r = warmFleet(1_000)
    r.closeInterval(at: minute, backend: .init())
    r.closeInterval(at: 2 * minute, backend: .init())
    for _ in 0..<700 { r.offline(group: 0) }
    r.crash(at: 2 * minute + 10 * second, detail: "gateway 0 out of memory")
    r.closeInterval(at: 3 * minute, backend: .init(dbUtilization: 1))
    r.closeInterval(at: 4 * minute, backend: .init(dbUtilization: 1))
    r.timeline(at: 4 * minute + 30 * second, "admission limited to 100/s")
    connect(&r, at: 4 * minute + 40 * second, count: 1_400, connected: 700)
    for m in 5...16 { r.closeInterval(at: Int64(m) * minute, backend: .init(dbUtilization: 0.3)) }
    return r
}

@Test func theRecordersMilestonesAreTheTrackersOverItsSeriesPlusWhatTheDriverRecorded() {
    let r = collapseAndRecovery()
    let derived = r.milestones.filter { MilestoneTracker.derivedKinds.contains($0.kind) }
    #expect(derived == MilestoneTracker.derive(from: r.series))
    #expect(derived.map(\.kind) == [.fleetCollapse, .reconnectStorm, .rebound, .recovered])
    let report = r.report(info, durationS: 960)
    #expect(report.milestones.map(\.tS) == report.milestones.map(\.tS).sorted())
    #expect(report.milestones.map(\.kind) == [.backendCrash, .fleetCollapse, .timeline, .reconnectStorm, .rebound, .recovered])
}

@Test func recoveryIsMeasuredFromTheMitigation() {
    let summary = collapseAndRecovery().report(info, durationS: 960).summary
    // Recovered at minute 5 (the start of the hold), mitigated at 4m30s.
    #expect(summary.recoveryS == 30)
    #expect(summary.onlineFractionMin == 0.3)
}
