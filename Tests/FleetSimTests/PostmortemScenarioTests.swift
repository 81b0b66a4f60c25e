import Testing
@testable import FleetSim
import LoadReport

/// The shipped postmortem scenarios, run whole: the cascade must emerge from the model.
@Suite(.serialized, .tags(.slow)) struct PostmortemScenarioTests {
    static let hour = 3600.0
    static let restart = 13 * hour + 40 * 60
    static let block = 16 * hour + 20 * 60

    @Test func theCascadeEmergesAfterTheIncreaseAndEndsWithTheBlock() throws {
        let r = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08.yaml"))
        let collapses = r.milestones(.fleetCollapse)
        let crashes = r.milestones(.backendCrash)
        // Stable fleet until the extra devices join at 01:00.
        #expect(collapses.allSatisfy { $0.tS > 1 * Self.hour })
        // The fleet collapses during the night, and the backends run out of memory.
        #expect(collapses.first.map { $0.tS < 6 * Self.hour } == true)
        #expect(crashes.contains { $0.tS < Self.restart })
        #expect(r.milestones(.dbSaturated).contains { $0.tS < Self.restart })
        #expect(r.milestones(.reconnectStorm).contains { $0.tS < Self.restart })
        // The restart at 13:40 gives no lasting recovery: the fleet collapses again before the block.
        #expect(collapses.contains { $0.tS > Self.restart && $0.tS < Self.block })
        #expect(!r.milestones(.recovered).contains { $0.tS < Self.block })
        // The block ends it: recovered within half an hour, as on the day (16:20 -> 16:47).
        let recovered = try #require(r.milestones(.recovered).last)
        #expect(recovered.tS > Self.block && recovered.tS < Self.block + 1800)
        #expect(r.summary.recoveryS.map { $0 > 0 && $0 < 1800 } == true)
        #expect(r.summary.onlineFractionFinal >= 0.95)
        #expect(r.summary.backendCrashes > 0)
        #expect(r.storm.retryAmplification.map { $0 > 1 } == true)
    }

    /// The live postmortem's own model keys are its live figures in scenario time, so simulating
    /// it predicts the live run: the 800 scanning devices hold, the 1,000 do not, the block ends
    /// it; the indexed twin passes the gate its file carries.
    @Test func theLivePostmortemSimulatedTellsTheSameStory() throws {
        let live = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08-live.yaml"))
        let adds = 2.5 * Self.hour, block = 3.25 * Self.hour
        // The story's order: the database saturates only once the Friday devices join.
        #expect(live.milestones(.dbSaturated).allSatisfy { $0.tS > adds })
        #expect(live.milestones(.fleetCollapse).allSatisfy { $0.tS > adds })
        #expect(live.milestones(.fleetCollapse).contains { $0.tS < block })
        #expect(live.summary.backendCrashes > 0)
        #expect(live.milestones(.recovered).contains { $0.tS > block && $0.tS < block + 1800 })
        let thursday = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08-live.yaml"),
                                            overrides: ["fleet.friday-adds.count=0"])
        #expect(thursday.summary.backendCrashes == 0)
        #expect(thursday.summary.onlineFractionMin > 0.95)
        #expect(thursday.milestones(.dbSaturated).isEmpty, "the Thursday fleet keeps the database below saturation")
        var indexed = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08-indexed-live.yaml"))
        try indexed.evaluateThresholds()
        #expect(indexed.thresholdsHeld, "\(indexed.thresholds)")
    }

    @Test func withTheUUIDLookedUpByIndexThereIsNoCascade() throws {
        let r = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08-indexed.yaml"))
        #expect(r.summary.backendCrashes == 0)
        #expect(r.milestones(.dbSaturated).isEmpty)
        #expect(r.milestones(.fleetCollapse).allSatisfy { $0.tS >= Self.restart })   // only the planned restart
        #expect(r.milestones(.recovered).contains { $0.tS > Self.restart && $0.tS < Self.block })
        #expect(r.summary.dbUtilizationMax < 0.2)
    }

    /// 800 devices on the scanning firmware is a healthy fleet; 1,000 collapses (without any
    /// scheduled event to push it).
    @Test(arguments: [(0, false), (200, true)])
    func theIncreaseOf200DevicesTipsTheFleet(adds: Int, collapses: Bool) throws {
        let r = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08.yaml"),
                                     overrides: ["timeline=[]", "fleet.friday-adds.count=\(adds)", "duration=8h"])
        #expect(!r.milestones(.fleetCollapse).isEmpty == collapses)
        #expect((r.summary.backendCrashes > 0) == collapses)
        if !collapses { #expect(r.summary.onlineFractionMin > 0.95) }
    }

    @Test func theJitterVariantReportsWhatItDid() throws {
        let r = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08-jitter.yaml"))
        // Admission control keeps the gateways inside their memory: no crash, and the devices
        // honour Retry-After; the fleet survives the night without the block.
        #expect(r.summary.backendCrashes == 0)
        #expect(r.summary.rejects > 0)
        #expect(r.milestones(.fleetCollapse).allSatisfy { $0.tS >= Self.restart })
        #expect(r.milestones(.recovered).contains { $0.tS > Self.restart && $0.tS < Self.block })
    }
}
