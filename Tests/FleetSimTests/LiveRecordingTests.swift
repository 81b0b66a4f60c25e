import Foundation
import Testing

/// A live run's one recording path: whatever the number of event loops, one recorder on the
/// coordinator takes the loops' counts and the backend sample, and tells the same story.
@Suite(.serialized, .tags(.slow, .network)) struct LiveRecordingTests {
    let cli = CommandLineTests()

    /// A cold fleet joining at 100/s (no warm start): healthy, so its online fraction never dips.
    static let fleet = """
        version: 1
        name: live-recording
        seed: 21
        duration: 12s
        interval: 2s
        profiles:
          p: { lookup: indexed, heartbeat: 2s, handshake_timeout: 6s, ack_timeout: 4s,
               reconnect: { policy: full-jitter, base: 1s, cap: 4s } }
        fleet:
          - { name: all, count: 400, firmware: 3.9.1, profile: p, join: { ramp: 4s } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB }
          database: { cores: 2, rows: 5000, indexed_cost: 1ms, heartbeat_cost: 1ms }
        timeline:
          - { at: 5s, action: set-db-cores, cores: 4 }
          - { at: 7s, action: drop-sessions, fraction: 0% }
        """

    /// 40 devices whose first query scans for 50 s on one database core: every handshake waits
    /// for the whole run, so the backend's own pending handshakes are known (40, or one fewer
    /// while one runs), whatever the loop count.
    static let stuck = """
        version: 1
        name: live-stuck
        seed: 3
        duration: 6s
        interval: 2s
        profiles:
          p: { lookup: scan, heartbeat: 2s, handshake_timeout: 60s, ack_timeout: 4s,
               reconnect: { policy: full-jitter, base: 1s, cap: 4s } }
        fleet:
          - { name: all, count: 40, firmware: 3.9.1, profile: p, join: { ramp: 1s } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB }
          database: { cores: 1, rows: 5000, scan_cost_per_row: 10ms, indexed_cost: 1ms, heartbeat_cost: 1ms }
        """

    /// The 400-device fleet, its one gateway restarted at 6 s: every online device loses its
    /// session at once, on both loops, spread over a few milliseconds.
    static let restart = fleet.replacingOccurrences(of: "duration: 12s", with: "duration: 16s")
        .replacingOccurrences(of: """
              - { at: 5s, action: set-db-cores, cores: 4 }
              - { at: 7s, action: drop-sessions, fraction: 0% }
            """, with: "  - { at: 6s, action: restart-gateways, gateway: 0, down: 1s }\n")

    func run(loops: Int, scenario: String = fleet) throws -> [String: Any] {
        let dir = NSTemporaryDirectory() + "fleetsim-live-recording-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try scenario.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--event-loops", String(loops), "--out", dir + "/out", "-q")
        #expect(r.status == 0, "\(r.stderr)")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/report.json"))) as! [String: Any]
    }

    @Test func twoEventLoopsTellTheSameStoryAsOne() throws {
        let one = try run(loops: 1), two = try run(loops: 2)
        func milestones(_ r: [String: Any]) -> [String] {
            (r["milestones"] as! [[String: Any]]).map { "\($0["t_s"]!) \($0["kind"]!) \($0["detail"]!)" }
        }
        #expect(milestones(one) == milestones(two))
        #expect(milestones(two).contains { $0.contains("database capacity set to 4 cores") })
        for r in [one, two] {
            let summary = r["summary"] as! [String: Any]
            // A healthy cold start: devices in their first handshake are not missing.
            #expect(summary["online_fraction_min"] as! Double >= 0.95, "\(r["series"]!)")
            #expect(summary["connects"] as! Int >= 400)
            let series = r["series"] as! [String: Any]
            // The backend's pending handshakes once per interval: never more than the devices.
            #expect((series["pending_handshakes"] as! [Int]).allSatisfy { $0 <= 400 })
        }
    }

    @Test func twoEventLoopsReportTheBackendsOwnPendingHandshakes() throws {
        let one = try run(loops: 1, scenario: Self.stuck), two = try run(loops: 2, scenario: Self.stuck)
        func pending(_ r: [String: Any]) -> [Int] { (r["series"] as! [String: Any])["pending_handshakes"] as! [Int] }
        // One scrape per interval, taken once: not one copy per loop (80).
        #expect(pending(one) == pending(two), "\(pending(one)) against \(pending(two))")
        for r in [one, two] { #expect(pending(r).allSatisfy { (39...40).contains($0) }, "\(pending(r))") }
    }

    /// One restart is one mass disconnect of the whole fleet, not one per loop and per second.
    @Test func aRestartSeenByTwoLoopsIsOneMassDisconnect() throws {
        #expect(Self.restart.contains("restart-gateways"))
        let r = try run(loops: 2, scenario: Self.restart)
        let episodes = (r["storm"] as! [String: Any])["mass_disconnects"] as! [[String: Any]]
        #expect(episodes.count == 1, "\(episodes)")
        if let e = episodes.first {
            #expect(e["devices"] as! Int >= 380, "\(e)")
            #expect((e["t_s"] as! Double) >= 6 && (e["t_s"] as! Double) < 7, "\(e)")
            #expect(e["to_95pct_s"] is Double, "the fleet came back within the run: \(e)")
        }
    }
}
