import Foundation
import Testing

/// `rollout-check --verify-live` as a user runs it: the model's search, then live runs on both
/// sides of its recovery boundary against a real backend, a few seconds each.
@Suite(.serialized, .tags(.slow, .network)) struct RolloutVerificationTests {
    let cli = CommandLineTests()

    /// 300 devices, one database worker: the candidate's scans are stated at 4 s (33 ms live at
    /// ×120), so the database saturates near 150 scanning devices (half the fleet).
    static func scenario(scanCostPerRow: String = "800us", extra: String = "") -> String {
        """
        version: 1
        name: verify-test
        seed: 3
        duration: 12m
        interval: 1m
        time_scale: 120
        \(extra)
        profiles:
          legacy: { lookup: indexed, heartbeat: 60s, handshake_timeout: 20s, connect_timeout: 60s, session_lifetime: 10m,
                    reconnect: { policy: random, min: 1s, max: 2m } }
          scanning: { extends: legacy, lookup: scan }
        fleet:
          - { name: baseline,  count: 200, firmware: 3.8.0-b2, profile: legacy,   join: { ramp: 2m } }
          - { name: candidate, count: 100, firmware: 3.8.0-b3, profile: scanning, join: { ramp: 2m } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB, per_connection: 8KiB, per_pending: 0, restart: 30s }
          database: { cores: 1, rows: 5000, scan_cost_per_row: \(scanCostPerRow), indexed_cost: 12ms, heartbeat_cost: 1ms }
        rollout:
          candidate: candidate
          baseline: baseline
          planned: 90%
          margin: 1x
          health:
            online_fraction: 95%
            window: 12m
            perturbation: { at: 5m, down: 30s }
            recover_within: 4m
            hold: 2m
          search: { seeds: 1, precision: 5% }
        """
    }

    func folder() throws -> String {
        let dir = NSTemporaryDirectory() + "fleetsim-verify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    @Test func theVerificationRunsLiveOnBothSidesOfTheBoundary() throws {
        let dir = try folder()
        try Self.scenario().write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("rollout-check", dir + "/s.yaml", "--verify-live", "--out", dir + "/out")
        // 0 safe, 1 unsafe, 4 a disagreement: each is a verdict; 2 or 3 would be a failure to verify.
        #expect([0, 1, 4].contains(r.status), "\(r.stderr)")
        #expect(r.stdout.contains("Live verification against the embedded backend"), "\(r.stdout)")
        let rollout = try json(dir + "/out/rollout.json")
        let v = try #require(rollout["verification"] as? [String: Any])
        let points = try #require(v["points"] as? [[String: Any]])
        let roles = points.map { $0["role"] as! String }
        #expect(roles.contains("below") && roles.contains("above"), "\(roles)")
        let low = v["boundary_low"] as! Double, high = v["boundary_high"] as! Double
        let median = v["boundary"] as! Double
        #expect(low <= median && median <= high)
        for p in points {
            #expect(p["incomplete"] == nil, "\(p)")
            let share = p["share"] as! Double
            // Outside the seeds' spread, where every seed of the model gives the same verdict.
            if p["role"] as? String == "below" { #expect(share < low) }
            if p["role"] as? String == "above" { #expect(share > high) }
            // Each live run wrote its own report, a live one.
            let report = try json((p["report"] as! String) + "/report.json")
            #expect(report["mode"] as? String == "live")
        }
        let html = try String(contentsOfFile: dir + "/out/rollout.html", encoding: .utf8)
        #expect(html.contains("Live verification"))
        #expect(html.contains("Recovery time against the distance to the recovery boundary"))
    }

    /// A reference backend started apart whose scans cost ten times what the scenario's model
    /// says: the model finds the plan safe, the live fleet does not hold: exit 4, both reports.
    @Test func aModelTenTimesTooCheapIsADisagreement() throws {
        let dir = try folder()
        let token = "verify-\(UUID().uuidString.prefix(8))"
        let backend = Process()
        backend.executableURL = CommandLineTests.binary
        // The true scan: 33 ms live, 4 s of scenario time at ×120 (800 µs × 5,000 rows); the model below says a tenth.
        backend.arguments = ["backend", "--port", "0", "--rows", "5000", "--lookup", "scan:>=3.8.0-b3", "--db-workers", "1",
                             "--scan-cost", "33ms", "--indexed-cost", "100us", "--restart-delay", "250ms",
                             "--admin-token", token, "--endpoints-file", dir + "/endpoints.json", "--stop-with-parent"]
        backend.standardOutput = FileHandle.nullDevice
        backend.standardError = FileHandle.nullDevice
        try backend.run()
        defer { backend.terminate(); backend.waitUntilExit() }
        var endpoints: [String: Any]?
        for _ in 0..<300 where endpoints == nil {
            if let data = FileManager.default.contents(atPath: dir + "/endpoints.json"), !data.isEmpty {
                endpoints = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            }
            if endpoints == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        let e = try #require(endpoints)
        let device = e["device_url"] as! String
        let control = (e["processes"] as! [[String: Any]])[0]["control_url"] as! String
        let extra = """
            target: "\(device)"
            observe: ["\(control)/metrics"]
            hooks:
              restart-gateways: { http: "POST \(control)/admin/restart", token_env: FLEETSIM_VERIFY_TOKEN }
            """
        try Self.scenario(scanCostPerRow: "80us", extra: extra).write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim(["rollout-check", dir + "/s.yaml", "--verify-live", "--out", dir + "/out"],
                                 environment: ["FLEETSIM_VERIFY_TOKEN": token])
        #expect(r.status == 4, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("DISAGREE"), "\(r.stderr)")
        let rollout = try json(dir + "/out/rollout.json")
        #expect(rollout["safe"] as? Bool == true, "the cheap model finds the plan safe")
        let points = (rollout["verification"] as! [String: Any])["points"] as! [[String: Any]]
        #expect(points.contains { $0["predicted_recovered"] as? Bool == true && $0["live_recovered"] as? Bool == false }, "\(points)")
        for p in points { #expect(FileManager.default.fileExists(atPath: (p["report"] as! String) + "/report.json")) }
    }
}
