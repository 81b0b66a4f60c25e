import Testing
@testable import LoadReport

private let minute: Int64 = 60_000_000_000

/// One one-minute interval ending at minute `m` of a 1,000-device fleet.
private func sample(_ m: Int, online: Int, eligible: Int = 1_000, utilization: Double = 0.1,
                    handshakeTimeouts: Int = 0, ackTimeouts: Int = 0, attempts: Int = 0, connects: Int = 0)
    -> MilestoneTracker.Sample {
    MilestoneTracker.Sample(t: Int64(m) * minute, interval: minute, online: online, eligible: eligible,
                            utilization: utilization, waitS: 0.5, handshakeTimeouts: handshakeTimeouts,
                            ackTimeouts: ackTimeouts, attempts: attempts, connects: connects)
}

/// Feeds samples in order and returns every milestone they produced.
private func feed(_ tracker: inout MilestoneTracker, _ samples: [MilestoneTracker.Sample]) -> [Report.Milestone] {
    samples.flatMap { tracker.observe($0) }
}

/// A tracker whose fleet is established (one interval at 100% online, ending at minute 1).
private func established() -> MilestoneTracker {
    var tracker = MilestoneTracker()
    _ = tracker.observe(sample(1, online: 1_000))
    return tracker
}

// MARK: Before the fleet is established

@Test func aColdStartReportsNoTimeoutsStormOrCollapse() {
    var tracker = MilestoneTracker()
    // A ramp from 10% to 94% with many timeouts and failed attempts: the fleet is forming.
    let ramp = (1...10).map { m in
        sample(m, online: [100, 200, 300, 400, 500, 600, 700, 800, 900, 940][m - 1],
               handshakeTimeouts: 50, ackTimeouts: 50, attempts: 900, connects: 100)
    }
    #expect(feed(&tracker, ramp).isEmpty)
    #expect(tracker.fleet == .forming)
    // The same signals on the first interval at ≥ 95% are reported: the fleet is established.
    let first = tracker.observe(sample(11, online: 950, handshakeTimeouts: 50, ackTimeouts: 50, attempts: 900, connects: 100))
    #expect(tracker.fleet == .healthy)
    #expect(first.map(\.kind) == [.timeouts, .reconnectStorm])
    #expect(first.allSatisfy { $0.tS == 11 * 60 })
}

/// A database that saturates while the fleet is still forming is news (it may be why the fleet
/// never forms); the fleet's own milestones wait until it is first established.
@Test func aColdStartReportsDatabaseSaturationButNoFleetMilestones() {
    var tracker = MilestoneTracker()
    let ramp = (1...8).map { sample($0, online: $0 * 100, utilization: 1.0) }
    #expect(feed(&tracker, ramp).map(\.kind) == [.dbSaturated])
    #expect(tracker.fleet == .forming)
}

// MARK: Collapse, rebound, relapse

@Test func aCollapseBelowHalfFiresOnceWhileTheFleetStaysDown() {
    var tracker = established()
    let down = feed(&tracker, [sample(2, online: 600), sample(3, online: 499), sample(4, online: 300),
                               sample(5, online: 100), sample(6, online: 450)])
    #expect(down.map(\.kind) == [.fleetCollapse])
    #expect(down[0].tS == 3 * 60)
    #expect(down[0].detail == "49.9% online (499 of 1000)")
    #expect(tracker.fleet == .collapsed)
}

@Test func halfOnlineIsNotACollapse() {
    var tracker = established()
    #expect(feed(&tracker, [sample(2, online: 500), sample(3, online: 700), sample(4, online: 500)]).isEmpty)
    #expect(tracker.fleet == .healthy)
}

@Test func aSecondFallAfterAReboundIsARelapse() {
    var tracker = established()
    let story = feed(&tracker, [sample(2, online: 200), sample(3, online: 600), sample(4, online: 800),
                                sample(5, online: 300), sample(6, online: 200)])
    #expect(story.map(\.kind) == [.fleetCollapse, .rebound, .fleetCollapse])
    #expect(story.map(\.tS) == [120, 180, 300])
    #expect(!story[0].detail.hasPrefix("relapse"))
    #expect(story[1].detail == "60.0% online (600 of 1000)")
    #expect(story[2].detail == "relapse: 30.0% online (300 of 1000)")
}

// MARK: Recovery

@Test func recoveryNeedsTenMinutesAtNinetyFivePercentAndIsStampedAtTheStartOfTheHold() {
    var tracker = established()
    _ = feed(&tracker, [sample(2, online: 100), sample(3, online: 700)])   // collapse, rebound
    // ≥ 95% from minute 4 on: at minute 13 the fleet has held for 9 minutes, not yet 10.
    let holding = feed(&tracker, (4...13).map { sample($0, online: 960) })
    #expect(holding.isEmpty)
    #expect(tracker.fleet == .rebounding)
    let recovered = tracker.observe(sample(14, online: 990))
    #expect(recovered.map(\.kind) == [.recovered])
    #expect(recovered.first?.tS == Double(4 * 60))
    #expect(recovered.first?.detail == "99.0% online (990 of 1000), holding for 10m")
    #expect(tracker.fleet == .healthy)
}

@Test func aDipBelowNinetyFivePercentRestartsTheHold() {
    var tracker = established()
    _ = feed(&tracker, [sample(2, online: 100), sample(3, online: 700)])
    _ = feed(&tracker, (4...10).map { sample($0, online: 960) })
    #expect(tracker.observe(sample(11, online: 900)).isEmpty)             // 90%: still rebounding
    #expect(feed(&tracker, (12...21).map { sample($0, online: 960) }).isEmpty)
    let recovered = tracker.observe(sample(22, online: 960))
    #expect(recovered.map(\.kind) == [.recovered])
    #expect(recovered.first?.tS == Double(12 * 60))
}

@Test func aReboundStraightToNinetyFivePercentStartsTheHoldAtOnce() {
    var tracker = established()
    _ = tracker.observe(sample(2, online: 100))
    #expect(tracker.observe(sample(3, online: 980)).map(\.kind) == [.rebound])
    #expect(feed(&tracker, (4...12).map { sample($0, online: 980) }).isEmpty)
    let recovered = tracker.observe(sample(13, online: 980))
    #expect(recovered.map(\.kind) == [.recovered])
    #expect(recovered.first?.tS == Double(3 * 60))
}

@Test func aCollapseAfterRecoveryIsANewCollapseNotARelapse() {
    var tracker = established()
    _ = feed(&tracker, [sample(2, online: 100), sample(3, online: 980)] + (4...13).map { sample($0, online: 980) })
    #expect(tracker.fleet == .healthy)
    let again = tracker.observe(sample(14, online: 100))
    #expect(again.map(\.kind) == [.fleetCollapse])
    #expect(again.first?.detail.hasPrefix("relapse") == false)
}

// MARK: Database saturation

/// Minutes 1, 2, … of a fully online fleet with these database utilisations.
private func busy(_ utilization: [Double], from first: Int = 1) -> [MilestoneTracker.Sample] {
    utilization.enumerated().map { sample(first + $0.offset, online: 1_000, utilization: $0.element) }
}

@Test func saturationNeedsAFiveMinuteWindowAtNinetyFivePercentOnAverage() {
    var tracker = MilestoneTracker()
    #expect(feed(&tracker, busy([1, 1, 1, 1])).isEmpty)                   // only 4 minutes so far
    // The window's mean counts: 1, 1, 1, 1, 0.8 is 96% busy.
    let fifth = tracker.observe(sample(5, online: 1_000, utilization: 0.8))
    #expect(fifth.map(\.kind) == [.dbSaturated])
    #expect(fifth.first?.tS == Double(5 * 60))
    #expect(fifth.first?.detail == "database 96% busy over the last 5m; a new query waits 0.5 s")
}

@Test func aWindowJustBelowNinetyFivePercentIsNotSaturated() {
    var tracker = MilestoneTracker()
    #expect(feed(&tracker, busy([1, 1, 1, 0.9, 0.8, 1, 1, 0.9, 0.85, 0.95])).isEmpty)   // every window ≤ 94%
}

@Test func saturationIsReportedOnceWhileTheDatabaseStaysAboveEightyPercent() {
    var tracker = MilestoneTracker()
    let story = feed(&tracker, busy([1, 1, 1, 1, 1] + Array(repeating: 0.85, count: 6) + Array(repeating: 1, count: 6)))
    #expect(story.map(\.kind) == [.dbSaturated])
}

@Test func saturationReArmsOnceTheWindowFallsBelowEightyPercent() {
    var tracker = MilestoneTracker()
    // Saturated at minute 5; the window falls to 74% at minute 8; busy again, 100% over minutes 9–13.
    let story = feed(&tracker, busy([1, 1, 1, 1, 1, 0.7, 0.7, 0.3] + Array(repeating: 1, count: 5)))
    #expect(story.map(\.kind) == [.dbSaturated, .dbSaturated])
    #expect(story.map(\.tS) == [5 * 60, 13 * 60])
}

@Test func withFiveMinuteIntervalsOneIntervalIsTheWindow() {
    var tracker = MilestoneTracker()
    let s = MilestoneTracker.Sample(t: 5 * minute, interval: 5 * minute, online: 1_000, eligible: 1_000, utilization: 0.97,
                                    waitS: 2, handshakeTimeouts: 0, ackTimeouts: 0, attempts: 0, connects: 0)
    #expect(tracker.observe(s).map(\.kind) == [.dbSaturated])
}

// MARK: Replaying a series

/// A story with every derived kind: established, saturated, timeouts, a storm, a collapse, a
/// rebound, a relapse and a recovery, in 40 one-minute intervals of a fleet that grows.
private func storySeries() -> Report.Series {
    var s = Report.Series(intervalS: 60)
    let n = 40
    s.tS = (1...n).map { Double($0) * 60 }
    s.eligible = (0..<n).map { 1_000 + $0 * 10 }
    let fraction: [Double] = [0.5, 0.9, 0.97, 1, 1, 0.98, 0.4, 0.2, 0.6, 0.8, 0.45, 0.7, 0.96, 0.97]
        + Array(repeating: 0.99, count: 26)
    s.online = zip(fraction, s.eligible).map { Int($0 * Double($1)) }
    s.connectAttempts = (0..<n).map { (6...12).contains($0) ? 400 : 20 }
    s.connects = (0..<n).map { (6...12).contains($0) ? 100 : 20 }
    s.disconnects = Array(repeating: 5, count: n)
    s.handshakeTimeouts = (0..<n).map { (7...9).contains($0) ? 30 : 0 }
    s.ackTimeouts = (0..<n).map { $0 == 8 ? 20 : 0 }
    s.rejects = Array(repeating: 0, count: n)
    s.crashes = Array(repeating: 0, count: n)
    s.dbUtilization = (0..<n).map { (4...14).contains($0) ? 0.99 : 0.3 }
    s.dbWaitS = (0..<n).map { (4...14).contains($0) ? 3.5 : 0 }
    s.pendingHandshakes = Array(repeating: 0, count: n)
    s.backendMemoryBytes = Array(repeating: 1 << 30, count: n)
    s.handshakeP50Ms = Array(repeating: 12, count: n)
    s.handshakeP99Ms = Array(repeating: 80, count: n)
    return s
}

@Test func derivingFromASeriesEqualsFeedingItsSamplesOneByOne() {
    let series = storySeries()
    var tracker = MilestoneTracker()
    var oneByOne: [Report.Milestone] = []
    for i in 0..<series.count {
        oneByOne += tracker.observe(MilestoneTracker.Sample(
            t: Int64(i + 1) * minute, interval: minute, online: series.online[i], eligible: series.eligible[i],
            utilization: series.dbUtilization[i], waitS: series.dbWaitS[i],
            handshakeTimeouts: series.handshakeTimeouts[i], ackTimeouts: series.ackTimeouts[i],
            attempts: series.connectAttempts[i], connects: series.connects[i]))
    }
    let derived = MilestoneTracker.derive(from: series)
    #expect(derived == oneByOne)
    // The story is the one written into the series, so the comparison is not of two empty lists.
    #expect(Set(derived.map(\.kind)) == MilestoneTracker.derivedKinds)
    #expect(derived.filter { $0.kind == .fleetCollapse }.map(\.detail.first) == ["4", "r"])
}
