import Foundation
import Testing
@testable import FleetSim

/// `fleetsim calibrate SCENARIO` as a user runs it: the embedded backend the scenario describes,
/// real connections, and the scenario written back calibrated.
@Suite(.serialized, .tags(.slow, .network)) struct ScenarioCalibrationTests {
    let cli = CommandLineTests()

    /// Stated costs far below what SQLite takes, so the real queries are what is measured.
    static let scenario = """
        # A small fleet for calibration tests.
        version: 1
        name: calibrate-test
        seed: 5
        duration: 10m
        interval: 1m
        time_scale: 10
        profiles:
          legacy: { lookup: indexed, heartbeat: 60s, handshake_timeout: 30s }
          scanning: { extends: legacy, lookup: scan }
        fleet:
          - { name: old, count: 40, firmware: 3.8.0-b2, profile: legacy }
          - { name: new, count: 10, firmware: 3.8.0-b3, profile: scanning }
        backend:
          gateways: { count: 1, memory_limit: 4GiB, per_connection: 64KiB, per_pending: 256KiB, restart: 4s }
          database:
            cores: 2
            rows: 20000
            scan_cost_per_row: 1ns   # stated below the real cost: the real scan is measured
            indexed_cost: 1ns
            heartbeat_cost: 1ns
        """

    func calibrate(rows: Int) throws -> (scenario: Scenario, text: String) {
        let dir = NSTemporaryDirectory() + "fleetsim-calibrate-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.scenario.replacingOccurrences(of: "rows: 20000", with: "rows: \(rows)")
            .write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("calibrate", dir + "/s.yaml", "--samples", "9", "-o", dir + "/calibrated.yaml")
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: dir + "/calibrated.yaml", encoding: .utf8)
        return (try ScenarioLoader.load(path: dir + "/calibrated.yaml"), text)
    }

    @Test func aCalibratedScenarioIsValidSaysWhatWasMeasuredAndItsScanCostGrowsWithRows() throws {
        let small = try calibrate(rows: 10_000)
        let large = try calibrate(rows: 120_000)
        func scan(_ s: Scenario) -> Double { Double(s.backend.database.rows) * Double(s.backend.database.scanCostPerRow) }
        // A scan reads every row: twelve times the rows, several times the cost.
        #expect(scan(large.scenario) > 3 * scan(small.scenario), "\(scan(small.scenario)) ns → \(scan(large.scenario)) ns")
        #expect(scan(large.scenario) > 5 * Double(large.scenario.backend.database.indexedCost))
        #expect(large.scenario.backend.database.rows == 120_000)
        // Comments say what was measured, how and when; the file's own comments are kept.
        #expect(large.text.contains("# Calibrated by `fleetsim calibrate"))
        #expect(large.text.contains("median of 9"))
        #expect(large.text.contains("last_seen flushes"))
        #expect(large.text.contains("# A small fleet for calibration tests."))
        #expect(large.text.contains("# calibrated"))
        #expect(large.scenario.backend.database.heartbeatCost > 1)
        #expect(large.scenario.backend.gateways.perConnection > 0)
    }
}
