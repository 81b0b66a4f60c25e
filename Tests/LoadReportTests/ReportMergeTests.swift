import Foundation
import Histogram
import Testing
@testable import LoadReport

@Suite struct ReportMergeTests {
    static let samples: [[UInt64]] = [
        (0..<5_000).map { UInt64(1_000 + ($0 * 7919) % 400_000) },
        (0..<3_000).map { UInt64(50_000 + ($0 * 104_729) % 9_000_000) },
        (0..<20).map { UInt64(30_000_000 + $0 * 1_000) },
    ]

    /// Three shards of one run, with different latency samples and fleets.
    static func shards() -> [Report] {
        let thresholds = [("handshake_ms", "p99 < 10000"), ("online_fraction", "min > 0.5"), ("connect_attempts", "count < 400")]
        return [
            ReportFixture.report(devices: 100, online: [100, 100, 40, 100], samplesUs: Self.samples[0], crashes: 1, thresholds: thresholds),
            ReportFixture.report(devices: 50, online: [50, 50, 50, 50], samplesUs: Self.samples[1], crashes: 1, thresholds: thresholds),
            ReportFixture.report(devices: 10, online: [10, 9, 0, 10], samplesUs: Self.samples[2], crashes: 0, thresholds: thresholds),
        ]
    }

    @Test func countsAddUp() throws {
        let shards = Self.shards()
        let merged = try ReportMerge.merge(shards)
        #expect(merged.summary.devices == 160)
        #expect(merged.summary.connectAttempts == shards.map(\.summary.connectAttempts).reduce(0, +))
        #expect(merged.summary.connects == shards.map(\.summary.connects).reduce(0, +))
        #expect(merged.summary.disconnects == shards.map(\.summary.disconnects).reduce(0, +))
        #expect(merged.summary.handshakeTimeouts == 12)
        #expect(merged.series.online == [160, 159, 90, 160])
        #expect(merged.series.eligible == [160, 160, 160, 160])
        #expect(merged.series.connectAttempts == zip(zip(shards[0].series.connectAttempts, shards[1].series.connectAttempts), shards[2].series.connectAttempts).map { $0.0 + $0.1 + $1 })
        #expect(merged.histograms.handshakeUs.totalCount == 8_020)
        #expect(merged.summary.handshakeMs.count == 8_020)
        #expect(merged.summary.eventsProcessed == 3000)
        // The online fraction is recomputed from the merged fleet, not the worst shard's.
        #expect(merged.summary.onlineFractionMin == 90.0 / 160)
        #expect(merged.storm.retryAmplification == Double(merged.summary.connectAttempts) / Double(merged.summary.connects))
        // One backend seen by every shard: the maximum, not the sum.
        #expect(merged.summary.backendCrashes == 1)
        #expect(merged.series.dbUtilization == shards[0].series.dbUtilization)
    }

    @Test func mergedPercentilesEqualThoseOfTheUnionOfSamples() throws {
        let merged = try ReportMerge.merge(Self.shards())
        // Every shard's samples recorded into one histogram: what a single run would have stored.
        let union = ReportFixture.histogram(Self.samples.flatMap { $0 })
        let m = merged.histograms.handshakeUs
        for p in [0.0, 1, 10, 50, 90, 95, 99, 99.5, 99.9, 99.99, 100] {
            #expect(m.valueAtPercentile(p) == union.valueAtPercentile(p), "p\(p)")
        }
        #expect(m.maxRecorded == union.maxRecorded && m.min == union.min && m.mean == union.mean)
        #expect(m == union)
        #expect(merged.summary.handshakeMs == ReportRules.percentiles(union))
        #expect(merged.summary.handshakeMs.max == 30_019)
    }

    @Test func thresholdsAreEvaluatedOnTheMergedData() throws {
        var shards = Self.shards()
        for i in shards.indices { try shards[i].evaluateThresholds() }
        // Each shard alone passes `count < 400` attempts; together they do not.
        #expect(shards.allSatisfy { $0.thresholds[2].ok == true })
        let merged = try ReportMerge.merge(shards)
        #expect(merged.thresholds[2].ok == false)
        #expect(merged.thresholds[2].value == Double(merged.summary.connectAttempts))
        #expect(merged.thresholds[1].value == 90.0 / 160)
    }

    @Test func aMergedReportSurvivesJSON() throws {
        let merged = try ReportMerge.merge(Self.shards())
        let again = try Report.read(from: try merged.jsonData())
        #expect(again.summary == merged.summary && again.series == merged.series && again.thresholds == merged.thresholds)
        #expect(again.histograms.handshakeUs == merged.histograms.handshakeUs)
    }

    @Test func reportsOfDifferentRunsAreRefused() throws {
        let a = ReportFixture.report(scenario: "rollout-a")
        #expect(throws: ReportError("report 2 is of scenario \"rollout-b\", report 1 of \"rollout-a\": only shards of one run merge")) {
            try ReportMerge.merge([a, ReportFixture.report(scenario: "rollout-b")])
        }
        #expect { try ReportMerge.merge([a, ReportFixture.report(scenario: "rollout-a", seed: 9)]) } throws: { e in
            (e as? ReportError)?.message.contains("seed") == true
        }
        var shifted = ReportFixture.report(scenario: "rollout-a")
        shifted.series.tS = shifted.series.tS.map { $0 + 30 }
        #expect { try ReportMerge.merge([a, shifted]) } throws: { e in
            (e as? ReportError)?.message.contains("different intervals") == true
        }
        #expect(throws: ReportError.self) { try ReportMerge.merge([]) }
    }

    @Test func timelineMilestonesAppearOnceAndIncompleteShardsAreNamed() throws {
        let event = Report.Milestone(tS: 60, kind: .timeline, detail: "firmware >=3.8 blocked")
        let a = ReportFixture.report(milestones: [event])
        var b = ReportFixture.report(milestones: [event, Report.Milestone(tS: 30, kind: .backendCrash, detail: "gateway 1")])
        b.incomplete = "interrupted"
        let merged = try ReportMerge.merge([a, b])
        #expect(merged.milestones.filter { !MilestoneTracker.derivedKinds.contains($0.kind) }.map(\.tS) == [30, 60])
        #expect(merged.incomplete == "shard report 2: interrupted")
    }

    /// A shard that stopped early (its process died) covers fewer intervals: the merge covers
    /// what every shard does, and says which stopped, and where.
    @Test func aShardThatStoppedEarlyMakesTheMergeIncomplete() throws {
        let whole = ReportFixture.report(online: [100, 100, 40, 100])
        let stopped = ReportFixture.report(online: [100, 100])
        let merged = try ReportMerge.merge([whole, stopped])
        #expect(merged.series.tS == [60, 120] && merged.series.online == [200, 200])
        #expect(merged.incomplete == "shard report 2 stopped at t=120s (2 of 4 intervals)")
    }

    /// Reports that name their shard: one missing is said (the merge covers the others' devices),
    /// one given twice or of another split is refused.
    @Test func missingAndRepeatedShardsAreNamed() throws {
        func shard(_ s: String) -> Report { var r = ReportFixture.report(); r.shard = s; return r }
        let merged = try ReportMerge.merge([shard("0/4"), shard("2/4"), shard("1/4")])
        #expect(merged.incomplete == "1 of 4 shards missing (3/4): the merged report covers the other 3")
        #expect(merged.summary.devices == 300 && merged.shard == nil)
        #expect(try ReportMerge.merge([shard("1/2"), shard("0/2")]).incomplete == nil)
        #expect(throws: ReportError("report 2 is shard 0/2 again: give each shard's report once")) {
            try ReportMerge.merge([shard("0/2"), shard("0/2")])
        }
        #expect(throws: ReportError("report 2 is shard 1/3, report 1 of 2 shards: only shards of one run merge")) {
            try ReportMerge.merge([shard("0/2"), shard("1/3")])
        }
    }

    // MARK: Milestones and recovery derived again

    /// A recorded run of 1,000 devices: a crash, a collapse at minute 3, a mitigation at 4m30s,
    /// back from minute 5 and held (recovered), a second, smaller drop later.
    static func recordedRun() -> Report {
        let second: Int64 = 1_000_000_000, minute = 60 * second
        var r = Recorder(interval: minute, groups: 1)
        for _ in 0..<1_000 { r.joined(group: 0); r.online(group: 0, initial: true) }
        for ms in 1...2_000 { r.handshake(nanoseconds: Int64(ms) * 700_000) }
        r.closeInterval(at: minute, backend: .init(dbUtilization: 0.5, memoryBytes: 1 << 30))
        r.closeInterval(at: 2 * minute, backend: .init(dbUtilization: 0.6))
        let episode = Int(r.beginEpisode(at: 2 * minute + 10 * second, cause: "gateway 0 crashed", onlineDropped: 700))
        for _ in 0..<700 { r.offline(group: 0) }
        r.crash(at: 2 * minute + 10 * second, detail: "gateway 0 out of memory")
        for m in 3...7 { r.closeInterval(at: Int64(m) * minute, backend: .init(dbUtilization: 1, dbWaitS: 9)) }
        r.timeline(at: 7 * minute + 30 * second, "admission limited to 100/s")
        for k in 0..<1_400 { r.attempt(at: 7 * minute + 40 * second + Int64(k) * 10_000_000) }
        for k in 0..<700 {
            r.online(group: 0, initial: false)
            r.back(episode: episode, at: 7 * minute + 45 * second + Int64(k) * 10_000_000)
        }
        for m in 8...20 { r.closeInterval(at: Int64(m) * minute, backend: .init(dbUtilization: 0.3)) }
        for _ in 0..<40 { r.offline(group: 0) }
        for _ in 0..<5 { r.handshakeTimeout() }
        r.closeInterval(at: 21 * minute, backend: .init(dbUtilization: 0.3))
        let info = Recorder.RunInfo(mode: "simulate", scenario: "merge", seed: 3, clockStart: nil, devices: 1_000, thresholds: [])
        return r.report(info, durationS: 21 * 60, eventsProcessed: 12_345, wallS: 0.25)
    }

    @Test func mergingOneReportGivesTheReportItself() throws {
        let run = Self.recordedRun()
        // The run tells the whole story, so the comparison below is not of empty lists.
        #expect(Set(run.milestones.map(\.kind)) == [.backendCrash, .fleetCollapse, .dbSaturated, .timeline,
                                                    .reconnectStorm, .rebound, .recovered])
        #expect(run.summary.recoveryS != nil)
        let merged = try ReportMerge.merge([run])
        #expect(merged.milestones == run.milestones)
        #expect(merged.summary == run.summary)
        #expect(merged.storm == run.storm)
        #expect(merged.series == run.series)
    }

    @Test func mergedMilestonesAreTheTrackersOverTheMergedSeriesPlusTheRecordedEventsOnce() throws {
        let timeline = Report.Milestone(tS: 150, kind: .timeline, detail: "firmware >=3.8 blocked")
        let a = ReportFixture.report(devices: 100, online: [100, 100, 10, 100], milestones: [
            timeline, Report.Milestone(tS: 130, kind: .backendCrash, detail: "gateway 0"),
            // What shard a's own tracker said: replaced by what the merged series says.
            Report.Milestone(tS: 180, kind: .fleetCollapse, detail: "10.0% online (10 of 100)"),
        ])
        let b = ReportFixture.report(devices: 100, online: [100, 100, 70, 100], milestones: [
            timeline, Report.Milestone(tS: 170, kind: .backendCrash, detail: "gateway 1"),
        ])
        let merged = try ReportMerge.merge([a, b])
        let recorded = [Report.Milestone(tS: 130, kind: .backendCrash, detail: "gateway 0"), timeline,
                        Report.Milestone(tS: 170, kind: .backendCrash, detail: "gateway 1")]
        let derived = MilestoneTracker.derive(from: merged.series)
        #expect(merged.milestones == (recorded + derived).sorted { $0.tS < $1.tS })
        #expect(merged.milestones(.fleetCollapse).map(\.detail) == ["40.0% online (80 of 200)"])
    }

    @Test func aShardsCollapseThatTheWholeFleetDidNotHaveIsNotReported() throws {
        let small = ReportFixture.report(devices: 10, online: [10, 10, 0, 0])
        let large = ReportFixture.report(devices: 1_000, online: [1_000, 1_000, 1_000, 1_000])
        #expect(try ReportMerge.merge([small]).milestones(.fleetCollapse).count == 1)
        let merged = try ReportMerge.merge([small, large])
        #expect(merged.milestones(.fleetCollapse).isEmpty)
        #expect(merged.summary.onlineFractionMin == 1_000.0 / 1_010)
    }

    @Test func twoHalvesThatTakeTurnsHoldingTheFleetUpMakeARecoveryNeitherShowsAlone() throws {
        // Both collapse at minute 3 and rebound at minute 4; then one half is at 100% while the
        // other is at 90%, and they swap at minute 10: the fleet holds 95% from minute 5 on.
        let a = ReportFixture.report(devices: 100, online: [100, 100, 20, 60] + Array(repeating: 100, count: 5) + Array(repeating: 90, count: 7))
        let b = ReportFixture.report(devices: 100, online: [100, 100, 20, 60] + Array(repeating: 90, count: 5) + Array(repeating: 100, count: 7))
        for half in [a, b] {
            let alone = try ReportMerge.merge([half])
            #expect(alone.milestones(.recovered).isEmpty)
            #expect(alone.summary.recoveryS == nil)
        }
        let merged = try ReportMerge.merge([a, b])
        #expect(merged.milestones(.recovered).map(\.tS) == [300])
        #expect(merged.summary.recoveryS == Double(300 - 180))
    }

    @Test func theRecoveryTimeIsDerivedFromTheMergedSeriesNotTakenFromAShard() throws {
        var a = ReportFixture.report(online: [100, 100, 40, 100])
        var b = ReportFixture.report(online: [100, 100, 40, 100])
        a.summary.recoveryS = 10
        b.summary.recoveryS = 40
        // The merged fleet rebounds at minute 4 but never holds 10 minutes: no recovery.
        #expect(try ReportMerge.merge([a, b]).summary.recoveryS == nil)
    }
}

extension Report {
    fileprivate func milestones(_ kind: Milestone.Kind) -> [Milestone] { milestones.filter { $0.kind == kind } }
}

/// What local shards (`fleetsim run --processes N`) add to a merge: counted timeline milestones,
/// mass disconnects seen by several shards, the backend's side as one more report, and following
/// a `series.jsonl` as it grows.
@Suite struct LocalShardMergeTests {
    static func counted(_ t: Double, _ n: Int) -> Report.Milestone {
        Report.Milestone(tS: t, kind: .timeline, detail: Report.Milestone.fill("network drops 10% of sessions ({0} devices)", [n]),
                         template: "network drops 10% of sessions ({0} devices)", counts: [n])
    }

    @Test func aCountedMilestoneIsOneWithTheShardsCountsAdded() throws {
        var shards = ReportMergeTests.shards()
        shards[0].milestones = [Self.counted(60, 7), Report.Milestone(tS: 90, kind: .timeline, detail: "all gateways restarted")]
        shards[1].milestones = [Self.counted(60, 5), Report.Milestone(tS: 90, kind: .timeline, detail: "all gateways restarted")]
        shards[2].milestones = [Self.counted(60, 0), Self.counted(120, 3)]
        let merged = try ReportMerge.merge(shards)
        let timeline = merged.milestones.filter { $0.kind == .timeline }
        #expect(timeline.map(\.detail) == ["network drops 10% of sessions (12 devices)", "all gateways restarted",
                                           "network drops 10% of sessions (3 devices)"])
        #expect(timeline[0].counts == [12])
    }

    @Test func oneEventSeenByEveryShardIsOneMassDisconnect() {
        let a = [Report.MassDisconnect(tS: 100.2, cause: "lost", devices: 40, to50PctS: 3, to95PctS: 9),
                 Report.MassDisconnect(tS: 130, cause: "lost", devices: 30, to50PctS: 1, to95PctS: 2)]
        let b = [Report.MassDisconnect(tS: 100.5, cause: "lost", devices: 38, to50PctS: 4, to95PctS: nil),
                 Report.MassDisconnect(tS: 100.6, cause: "drop-sessions", devices: 12, to50PctS: 1, to95PctS: 1)]
        let joined = ReportMerge.joinedEpisodes([a, b], window: 10)
        #expect(joined.count == 3)
        #expect(joined[0].devices == 78 && joined[0].tS == 100.2)
        #expect(abs(joined[0].to50PctS! - 4.3) < 1e-9)   // the slower shard, from the earlier start
        #expect(joined[0].to95PctS == nil)               // one shard never got 95% back
        #expect(joined[1].cause == "drop-sessions" && joined[1].devices == 12)
        #expect(joined[2].tS == 130 && joined[2].devices == 30)
    }

    /// Each shard's busiest second is not the fleet's: with their seconds kept, the merge adds
    /// them before the maximum.
    @Test func theBusiestSecondIsTheFleets() throws {
        var shards = Array(ReportMergeTests.shards().prefix(2))
        shards[0].histograms.connectAttemptsBySecond = [[10, 50], [11, 90], [12, 10]]
        shards[0].storm.peakReconnectRatePerS = 90
        shards[1].histograms.connectAttemptsBySecond = [[10, 70], [12, 80]]
        shards[1].storm.peakReconnectRatePerS = 80
        let merged = try ReportMerge.merge(shards)
        #expect(merged.storm.peakReconnectRatePerS == 120)   // second 10: 50 + 70; not 90 + 80
        #expect(merged.histograms.connectAttemptsBySecond == [[10, 120], [11, 90], [12, 90]])
        // A report without them (a simulation's): the sum of the peaks, an upper bound.
        shards[1].histograms.connectAttemptsBySecond = nil
        #expect(try ReportMerge.merge(shards).storm.peakReconnectRatePerS == 170)
    }

    @Test func theBackendSideIsNotAShard() throws {
        var shards = ReportMergeTests.shards()
        shards[0].shard = "0/2"; shards[1].shard = "1/2"
        var backend = shards[2]
        backend.shard = nil
        backend.summary.devices = 0
        backend.incomplete = "interrupted"
        let merged = try ReportMerge.merge(Array(shards.prefix(2)), backend: backend)
        #expect(merged.summary.devices == 150)
        #expect(merged.incomplete == "the backend's side: interrupted")
        #expect(merged.series.dbUtilization == backend.series.dbUtilization)
    }

    @Test func aFollowedSeriesFileGrowsLineByLine() throws {
        let path = NSTemporaryDirectory() + "series-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let full = ReportMergeTests.shards()[0]
        let info = Recorder.RunInfo(mode: full.mode, scenario: full.scenario, seed: full.seed, clockStart: nil, devices: 100, thresholds: [])
        let log = try SeriesLog(path: path, info: info, intervalS: full.series.intervalS)
        let reader = SeriesLog.Reader(path: path)
        #expect(try reader.poll() == nil)
        log.append(full.prefix(intervals: 1))
        #expect(try reader.poll()?.series.online == [100])
        // Half a line (a writer in the middle of its write) waits for the rest.
        let handle = FileHandle(forWritingAtPath: path)!
        handle.seekToEndOfFile()
        handle.write(Data("{\"series\":".utf8))
        #expect(try reader.poll()?.series.count == 1)
        #expect(try reader.poll(final: true)?.series.count == 1)
        try handle.close()
        log.close()
        #expect(full.prefix(intervals: 2).series.online == [100, 100])
        #expect(full.prefix(intervals: 9).series == full.series)
    }
}
