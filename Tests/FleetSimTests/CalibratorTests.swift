import DeviceModel
import Foundation
import ReferenceBackend
import Testing
@testable import FleetSim

/// `fleetsim calibrate` against the reference backend, with both lookup strategies.
@Suite(.serialized, .tags(.slow, .network)) struct CalibratorTests {
    /// Starts a reference backend, measures both firmwares with real connections, stops it.
    static func calibrate(rows: Int, lookup: LookupPolicy) async throws -> Calibrator.Result {
        var config = ReferenceBackendConfiguration()
        config.rows = rows
        config.lookup = lookup
        let backend = ReferenceBackend(configuration: config)
        let (_, port) = try await backend.start()
        defer { Task { try? await backend.shutdown() } }
        // The calibrator blocks its thread while it waits for replies: keep it off the cooperative pool.
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    try Calibrator.measure(url: "ws://127.0.0.1:\(port)/device", firmwares: ["3.8.0-b2", "3.8.0-b3"], samples: 15)
                })
            }
        }
    }

    static func handshake(_ r: Calibrator.Result, _ firmware: String) -> Double {
        r.handshakes.first { $0.firmware == firmware }!.handshakeS
    }

    @Test func measuredScanCostGrowsWithTheTable() async throws {
        let scan = try LookupPolicy(parsing: "scan:>=3.8.0-b3")
        // Tables large enough that a scan costs far more than what a busy machine (the other
        // suites run meanwhile) adds to a median handshake.
        let small = try await Self.calibrate(rows: 20_000, lookup: scan)
        let large = try await Self.calibrate(rows: 200_000, lookup: scan)
        // A scan reads every row: ten times the rows, several times the cost (not exactly ten:
        // fixed costs, and a loaded machine inflates the small figure more than the large one).
        #expect(Self.handshake(large, "3.8.0-b3") > 2 * Self.handshake(small, "3.8.0-b3"))
        #expect(Self.handshake(large, "3.8.0-b3") > 5 * Self.handshake(large, "3.8.0-b2"))
        let overrides = large.overrides(rows: 200_000, indexed: "3.8.0-b2", scan: "3.8.0-b3")
        #expect(overrides.contains { $0.hasPrefix("backend.database.scan_cost_per_row=") })
        // The fragment applies to a scenario through --set.
        let s = try ScenarioLoader.load(path: ScenarioRuns.shipped("rollout-3.8.0-b3.yaml"), overrides: overrides)
        #expect(s.backend.database.rows == 200_000)
        #expect(s.backend.database.scanCostPerRow > 0)
    }

    @Test func indexedLookupCostsTheSameForEveryFirmware() async throws {
        // 200,000 rows: a scan costs tens of milliseconds, far above what a busy machine (the
        // other suites run meanwhile) adds to a median handshake.
        let scanned = try await Self.calibrate(rows: 200_000, lookup: try LookupPolicy(parsing: "scan:>=3.8.0-b3"))
        let r = try await Self.calibrate(rows: 200_000, lookup: .indexed)
        let scan = Self.handshake(scanned, "3.8.0-b3")
        let indexed = Self.handshake(r, "3.8.0-b2"), other = Self.handshake(r, "3.8.0-b3")
        // Both are index lookups: nothing like a 200,000-row scan on the same machine, whatever
        // else the machine is doing (medians, compared with each other, not with a fixed time).
        #expect(indexed < scan / 3 && other < scan / 3)
    }
}
