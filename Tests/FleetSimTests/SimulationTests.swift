import Foundation
import Testing
@testable import FleetSim
import LoadReport

/// Whole simulations of a small fleet: determinism, the report contract, the timeline, the counters.
@Suite(.tags(.slow)) struct SimulationTests {
    @Test func theSameScenarioAndSeedGiveTheSameReport() throws {
        let a = try ScenarioRuns.run(ScenarioRuns.fixture("small-fleet.yaml"))
        let b = try ScenarioRuns.run(ScenarioRuns.fixture("small-fleet.yaml"))
        let c = try ScenarioRuns.run(ScenarioRuns.fixture("small-fleet.yaml"), overrides: ["seed=12"])
        #expect(try a.deterministicJSON() == b.deterministicJSON())
        #expect(try a.deterministicJSON() != c.deterministicJSON())
        #expect(a.summary.eventsProcessed == b.summary.eventsProcessed)
    }

    @Test func theReportFollowsTheContract() throws {
        let r = try ScenarioRuns.run(ScenarioRuns.fixture("small-fleet.yaml"))
        let json = try JSONSerialization.jsonObject(with: r.jsonData()) as! [String: Any]
        #expect(json["schema"] as? String == "fleetsim.report/1")
        #expect(json["mode"] as? String == "simulate")
        let summary = json["summary"] as! [String: Any]
        for key in ["devices", "duration_s", "online_fraction_min", "online_fraction_final", "connect_attempts",
                    "backend_crashes", "recovery_s", "handshake_ms", "events_processed", "wall_s"] {
            #expect(summary.keys.contains(key), "summary.\(key)")
        }
        let series = json["series"] as! [String: Any]
        let t = series["t_s"] as! [Double]
        #expect(t.count == 120 && t.last == 7200)
        for key in ["online", "connects", "disconnects", "db_utilization", "backend_memory_bytes"] {
            #expect((series[key] as? [Any])?.count == 120, "series.\(key)")
        }
        #expect((json["thresholds"] as! [[String: Any]]).first?["expression"] as? String == "min > 0.5")
        #expect(r.summary.devices == 2000)
    }

    @Test func everyTimelineEventIsAppliedAndRecorded() throws {
        let r = try ScenarioRuns.run(ScenarioRuns.fixture("small-fleet.yaml"))
        let applied = r.milestones(.timeline).map(\.tS)
        #expect(applied == [1800, 2400, 3000, 3600, 4200, 5400, 6000])
        // Dropping half the sessions is a mass disconnect; the devices come back.
        let drop = try #require(r.storm.massDisconnects.first { $0.cause == "drop-sessions" })
        #expect(drop.devices > 500 && drop.to95PctS != nil)
        // While the scanning firmware is blocked, its devices are not counted as eligible.
        let i = r.series.tS.firstIndex(of: 4800)!
        #expect(r.series.eligible[i] == 1700)
        #expect(r.series.rejects[i] > 0)
    }

    @Test func countersAddUp() throws {
        let r = try ScenarioRuns.run(ScenarioRuns.fixture("small-fleet.yaml"))
        #expect(r.series.connects.reduce(0, +) == r.summary.connects)
        #expect(r.series.connectAttempts.reduce(0, +) == r.summary.connectAttempts)
        #expect(r.summary.connects <= r.summary.connectAttempts)
        #expect(r.summary.handshakeMs.count == UInt64(r.summary.connects))
        #expect(r.histograms.handshakeUs.totalCount == UInt64(r.summary.connects))
    }

    @Test func scalingKeepsTheShape() throws {
        let s = try ScenarioLoader.load(path: ScenarioRuns.fixture("small-fleet.yaml"))
        let big = s.scaled(by: 3)
        #expect(big.totalDevices == 3 * s.totalDevices)
        #expect(big.backend.gateways.count == 6 && big.backend.database.cores == 6)
        let half = s.scaled(by: 0.5)
        #expect(half.backend.database.cores == 1)
        #expect(abs(Double(half.backend.database.cores) * half.backend.database.speed - 1) < 1e-9)
    }
}
