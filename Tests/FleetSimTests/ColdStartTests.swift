import DeviceModel
import Testing
@testable import FleetSim
import LoadReport

/// A healthy cold start is not a dip: devices still in their first handshake are not yet missing
/// from the online fraction (README, "Milestones").
@Suite struct ColdStartTests {
    /// 3,000 devices joining at 200/s, each handshake 1.2 s (four one-way trips to connect and
    /// upgrade, two for hello and welcome at 200 ms): at every boundary of the ramp, ~240 devices
    /// are mid-handshake. Nothing fails and nobody disconnects.
    static let yaml = """
        version: 1
        name: cold-start
        seed: 9
        duration: 40s
        interval: 5s
        network: { latency: 200ms }
        profiles:
          p: { heartbeat: 30s, handshake_timeout: 10s, lookup: indexed }
        fleet:
          - { name: all, count: 3000, firmware: 3.9.1, profile: p, join: { ramp: 15s } }
        backend:
          gateways: { count: 2 }
          database: { cores: 4, rows: 1000 }
        """

    @Test func devicesInTheirFirstHandshakeAreNotCountedAsMissing() throws {
        var simulation = Simulation(scenario: try ScenarioLoader.load(yaml: Self.yaml, path: "cold-start.yaml"))
        let report = simulation.run()
        #expect(report.summary.disconnects == 0 && report.summary.handshakeTimeouts == 0)
        #expect(report.summary.onlineFractionMin == 1.0, "online \(report.series.online), eligible \(report.series.eligible)")
        // At 5 s, 1,000 devices had joined; the ~240 still in their handshake are not yet eligible.
        let first = report.series.eligible[0]
        #expect(first > 700 && first < 1000, "eligible at 5 s: \(first)")
        #expect(report.series.eligible.last == 3000)
    }

    @Test func aDeviceWhoseFirstAttemptFailedIsMissing() throws {
        // The same fleet against a backend that answers every upgrade 500 from the start.
        let yaml = Self.yaml + "\ntimeline:\n  - { at: 0s, action: http-errors, fraction: 1, status: 500, for: 1h }\n"
        var simulation = Simulation(scenario: try ScenarioLoader.load(yaml: yaml, path: "cold-start.yaml"))
        let report = simulation.run()
        #expect(report.summary.connects == 0)
        #expect(report.series.eligible.last == 3000)
        #expect(report.summary.onlineFractionMin == 0)
    }
}
