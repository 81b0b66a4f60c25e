import Foundation
import LoadReport
import Testing
@testable import FleetSim

/// `fleetsim run --metrics-listen`: the run's own metrics in Prometheus text while it runs, and
/// the report's breakdown of lost sessions and failed connects by cause.
@Suite struct MetricsPageTests {
    static func snapshot() -> MetricsEndpoint.Snapshot {
        var counters = Recorder.Counters()
        counters.connectAttempts = 12; counters.connects = 9; counters.rejects = 2; counters.handshakeTimeouts = 1
        var causes = CauseCounts()
        causes.disconnect("closed.1011"); causes.disconnect("closed.1011"); causes.disconnect("reset")
        causes.failedConnect("http.503"); causes.failedConnect("timeout.handshake")
        var handshakes = LatencyRecorder()
        for ms: Int64 in [3, 40, 40, 200, 7_000] { handshakes.record(nanoseconds: ms * 1_000_000) }
        return MetricsEndpoint.Snapshot(shard: "2/4", scenario: "a \"quoted\" fleet", scenarioS: 90,
                                        census: (7, 2, 1, 0, 3), counters: counters, causes: causes, handshakes: handshakes)
    }

    @Test func everySeriesCarriesTheShardAndEveryFamilyItsType() throws {
        let page = MetricsEndpoint.render(Self.snapshot())
        let samples = page.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples.count > 20)
        for line in samples { #expect(line.contains("{shard=\"2/4\""), "\(line)") }
        for family in ["fleetsim_devices gauge", "fleetsim_connects_total counter", "fleetsim_disconnects_total counter",
                       "fleetsim_failed_connects_total counter", "fleetsim_handshake_duration_seconds histogram",
                       "fleetsim_rejects_total counter", "fleetsim_scenario_time_seconds gauge"] {
            #expect(page.contains("# TYPE \(family)\n"), "\(family)")
        }
        #expect(page.contains("fleetsim_devices{shard=\"2/4\",state=\"online\"} 7\n"))
        #expect(page.contains("fleetsim_devices{shard=\"2/4\",state=\"not_joined\"} 3\n"))
        #expect(page.contains("fleetsim_disconnects_total{shard=\"2/4\",cause=\"closed.1011\"} 2\n"))
        #expect(page.contains("fleetsim_failed_connects_total{shard=\"2/4\",cause=\"http.503\"} 1\n"))
        #expect(page.contains("fleetsim_connect_attempts_total{shard=\"2/4\"} 12\n"))
        #expect(page.contains("scenario=\"a \\\"quoted\\\" fleet\""))
        // Cumulative buckets: 3 ms; 40 ms ×2; 200 ms; 7 s.
        #expect(page.contains("fleetsim_handshake_duration_seconds_bucket{shard=\"2/4\",le=\"0.005\"} 1\n"))
        #expect(page.contains("fleetsim_handshake_duration_seconds_bucket{shard=\"2/4\",le=\"0.05\"} 3\n"))
        #expect(page.contains("fleetsim_handshake_duration_seconds_bucket{shard=\"2/4\",le=\"5\"} 4\n"))
        #expect(page.contains("fleetsim_handshake_duration_seconds_bucket{shard=\"2/4\",le=\"10\"} 5\n"))
        #expect(page.contains("fleetsim_handshake_duration_seconds_bucket{shard=\"2/4\",le=\"+Inf\"} 5\n"))
        #expect(page.contains("fleetsim_handshake_duration_seconds_count{shard=\"2/4\"} 5\n"))
        #expect(page.contains("fleetsim_handshake_duration_seconds_sum{shard=\"2/4\"} 7.283\n"))
    }
}

@Suite(.serialized, .tags(.slow, .network)) struct LiveMetricsTests {
    let cli = CommandLineTests()

    /// 160 devices on firmware 3.9.1 and 40 on 3.8.0; 3.8.0 is blocked at 4 s and every session
    /// is dropped at 5 s: the 40 come back to the block list's close 4003 (their firmware is in
    /// their hello), the 160 to a welcome.
    static let fleet = """
        version: 1
        name: live-metrics
        seed: 5
        duration: 10s
        interval: 2s
        profiles:
          p: { lookup: indexed, heartbeat: 2s, handshake_timeout: 6s, ack_timeout: 4s,
               reconnect: { policy: full-jitter, base: 500ms, cap: 2s } }
        fleet:
          - { name: current, count: 160, firmware: 3.9.1, profile: p, join: { ramp: 1s } }
          - { name: old, count: 40, firmware: 3.8.0, profile: p, join: { ramp: 1s } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB }
          database: { cores: 2, rows: 5000, indexed_cost: 1ms, heartbeat_cost: 1ms }
        timeline:
          - { at: 4s, action: block, firmware: "3.8.0" }
          - { at: 5s, action: drop-sessions, fraction: 100% }
        """

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    @Test func theRunServesItsMetricsWhileItRunsAndReportsCauses() throws {
        let dir = NSTemporaryDirectory() + "fleetsim-live-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.fleet.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let port = Self.freePort()
        let process = Process()
        process.executableURL = CommandLineTests.binary
        process.arguments = ["run", dir + "/s.yaml", "--out", dir + "/out", "--metrics-listen", "127.0.0.1:\(port)", "-q"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // Scrape while it runs: the devices online before the drop, later the causes of what followed.
        var pages: [String] = []
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline {
            if let r = try? HTTPRequest.send("GET", "http://127.0.0.1:\(port)/metrics", timeout: 2), r.status == 200, !r.body.isEmpty {
                pages.append(r.body)
            }
            usleep(500_000)
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let online = pages.compactMap { page in
            page.split(separator: "\n").first { $0.hasPrefix("fleetsim_devices{shard=\"0/1\",state=\"online\"} ") }
                .flatMap { Int($0.split(separator: " ").last!) }
        }
        #expect(online.contains { $0 >= 190 }, "the fleet was seen online: \(online)")
        let last = try #require(pages.last)
        #expect(last.contains("fleetsim_disconnects_total{shard=\"0/1\",cause=\"dropped\"} "), "\(last)")
        #expect(last.contains("fleetsim_failed_connects_total{shard=\"0/1\",cause=\"closed.4003\"} "), "\(last)")
        let after = try? HTTPRequest.send("GET", "http://127.0.0.1:\(port)/metrics", timeout: 1)
        #expect(after == nil, "the endpoint closes with the run")
        // The report: every lost session has a cause, and the refused reconnects theirs.
        let report = try Report.read(from: Data(contentsOf: URL(fileURLWithPath: dir + "/out/report.json")))
        let byCause = try #require(report.summary.disconnectsByCause)
        #expect(byCause.values.reduce(0, +) == report.summary.disconnects, "\(byCause)")
        #expect((byCause["dropped"] ?? 0) >= 150, "\(byCause)")
        let failed = try #require(report.summary.failedConnectsByCause)
        #expect((failed["closed.4003"] ?? 0) >= 40, "\(failed)")
    }
}
