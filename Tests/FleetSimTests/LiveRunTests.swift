import Foundation
import Testing

/// `fleetsim run` as a user runs it: real WebSockets on loopback, against the embedded reference
/// backend (child processes) or another server, a few hundred devices for a few seconds.
@Suite(.serialized, .tags(.slow, .network)) struct LiveRunTests {
    let cli = CommandLineTests()

    static let fleet = """
        version: 1
        name: live-test
        seed: 11
        duration: 24s
        interval: 2s
        time_scale: 2
        profiles:
          p: { lookup: indexed, heartbeat: 2s, handshake_timeout: 6s, ack_timeout: 4s,
               reconnect: { policy: full-jitter, base: 1s, cap: 4s } }
        fleet:
          - { name: old, count: 150, firmware: 3.7.2, profile: p, join: { ramp: 4s } }
          - { name: new, count: 50, firmware: 3.8.0-b3, profile: p, join: { ramp: 4s } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB, per_connection: 64KiB, per_pending: 256KiB, restart: 4s }
          database: { cores: 2, rows: 5000, scan_cost_per_row: 1us, indexed_cost: 1ms, heartbeat_cost: 1ms }
        timeline:
          - { at: 10s, action: block, firmware: ">=3.8.0-b3" }
          - { at: 14s, action: drop-sessions, fraction: 100% }
        """

    func folder() throws -> String {
        let dir = NSTemporaryDirectory() + "fleetsim-live-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    @Test func aLiveRunConnectsHeartbeatsAndCountsBlockedFirmwareRejections() throws {
        let dir = try folder()
        try Self.fleet.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--out", dir + "/out", "-q")
        #expect(r.status == 0, "\(r.stderr)")
        let report = try json(dir + "/out/report.json")
        #expect(report["mode"] as? String == "live")
        let summary = report["summary"] as! [String: Any]
        // Every device connected once before the drop, and every old-firmware device again after it.
        #expect((summary["connects"] as! Int) >= 200 + 150)
        // Heartbeats were acknowledged: no device timed out waiting for an ack.
        #expect(summary["ack_timeouts"] as? Int == 0)
        // After the block, the new firmware's reconnects are refused (4003), and counted.
        #expect((summary["rejects"] as! Int) >= 50)
        #expect(summary["online_fraction_final"] as? Double == 1.0)
        let series = report["series"] as! [String: Any]
        #expect((series["t_s"] as! [Double]).count == 12)
        let milestones = (report["milestones"] as! [[String: Any]]).map { $0["detail"] as! String }
        #expect(milestones.contains { $0.contains("firmware >=3.8.0-b3 blocked") })
        #expect(milestones.contains { $0.contains("network drops 100% of sessions") })

        // The same scenario simulated has the same report keys.
        let sim = try cli.fleetsim("simulate", dir + "/s.yaml", "--out", dir + "/sim", "-q")
        #expect(sim.status == 0)
        let simulated = try json(dir + "/sim/report.json")
        // …but the live run's database section (its real and stated query costs), which a simulation has not.
        #expect(Set(simulated.keys) == Set(report.keys).subtracting(["database"]))
        let database = try #require(report["database"] as? [String: Any])
        #expect((database["queries"] as? [[String: Any]])?.contains { $0["kind"] as? String == "indexed" && ($0["count"] as? Int ?? 0) > 0 } == true)
        // …and the live run's breakdown of lost sessions and failed connects by cause.
        let byCause: Set<String> = ["disconnects_by_cause", "failed_connects_by_cause"]
        #expect(Set((simulated["summary"] as! [String: Any]).keys).subtracting(["events_processed"])
                == Set(summary.keys).subtracting(byCause))
        #expect(byCause.isSubset(of: Set(summary.keys)))
        #expect(Set((simulated["series"] as! [String: Any]).keys) == Set(series.keys))

        // series.jsonl holds every interval, and rebuilds into a report.
        let lines = try String(contentsOfFile: dir + "/out/series.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 13)
        let rebuilt = try cli.fleetsim("report", dir + "/out/series.jsonl", "-q")
        #expect(rebuilt.status == 3, "a rebuilt report says it is incomplete: \(rebuilt.stderr)")
    }

    @Test func anUnreachableTargetEndsWithExit3AndAReport() throws {
        let dir = try folder()
        let scenario = Self.fleet.components(separatedBy: "timeline:")[0]
        try scenario.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--target", "ws://127.0.0.1:9/device", "--out", dir + "/out", "-q")
        #expect(r.status == 3)
        #expect(r.stderr.contains("unreachable"))
        let report = try json(dir + "/out/report.json")
        #expect((report["incomplete"] as? String)?.contains("unreachable") == true)
    }

    @Test func aTimelineActionTheTargetCannotTakeIsInvalidInput() throws {
        let dir = try folder()
        try Self.fleet.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--target", "ws://127.0.0.1:9/device", "--out", dir + "/out")
        #expect(r.status == 2)
        #expect(r.stderr.contains("timeline[0]: block cannot be applied"))
    }

    @Test func anInterruptedRunStillWritesItsReport() throws {
        let dir = try folder()
        try Self.fleet.replacingOccurrences(of: "duration: 24s", with: "duration: 10m")
            .write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = CommandLineTests.binary
        process.arguments = ["run", dir + "/s.yaml", "--out", dir + "/out", "-q"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 6)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 3)
        let report = try json(dir + "/out/report.json")
        #expect((report["incomplete"] as? String)?.contains("interrupted") == true)
        #expect(((report["summary"] as! [String: Any])["connects"] as! Int) > 0)
    }

    /// Against an external target, timeline actions reach the backend through the scenario's
    /// hooks: here an HTTP request with a bearer token from the environment to a reference backend
    /// started apart (so the block is real: the new firmware's reconnects are refused), and a shell
    /// command. Each outcome is in the action's milestone. Neither the token nor an upgrade
    /// header's value (both from the environment) is written anywhere, logs at `trace` included.
    @Test func hooksApplyTimelineActionsToAnExternalTarget() throws {
        let dir = try folder()
        let token = "hook-secret-\(UUID().uuidString.prefix(8))"
        let header = "header-secret-\(UUID().uuidString.prefix(8))"
        let backend = Process()
        backend.executableURL = CommandLineTests.binary
        backend.arguments = ["backend", "--port", "0", "--rows", "1000", "--admin-token", token,
                             "--endpoints-file", dir + "/endpoints.json", "--stop-with-parent"]
        // The backend's own log, at trace, is checked for the header's value below.
        _ = FileManager.default.createFile(atPath: dir + "/backend.log", contents: nil)
        let backendLog = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/backend.log"))
        backend.arguments! += ["--log-level", "trace"]
        backend.standardOutput = backendLog
        backend.standardError = backendLog
        try backend.run()
        defer { backend.terminate(); backend.waitUntilExit() }
        var endpoints: [String: Any]?
        for _ in 0..<200 where endpoints == nil {
            if let data = FileManager.default.contents(atPath: dir + "/endpoints.json"), !data.isEmpty {
                endpoints = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            }
            if endpoints == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        let e = try #require(endpoints)
        let deviceURL = e["device_url"] as! String
        let control = ((e["processes"] as! [[String: Any]])[0]["control_url"] as! String)
        let yaml = Self.fleet.components(separatedBy: "backend:")[0]
            .replacingOccurrences(of: "duration: 24s", with: "duration: 16s") + """
            target: { url: "\(deviceURL)", headers: { X-Fleet-Key: { env: FLEETSIM_TEST_HEADER } } }
            hooks:
              block: { http: "POST \(control)/admin/block", token_env: FLEETSIM_TEST_HOOK_TOKEN, body: "{firmware}" }
              unblock:
                shell: printf '%s at %s' {firmware} "$FLEETSIM_AT" > \(dir)/unblocked.txt
                timeout: 10s
              http-errors:
                shell: printf '%s %s %s %s %s\\n' {phase} {fraction} {status} {retry_after} {for} >> \(dir)/faults.txt
            timeline:
              - { at: 6s, action: block, firmware: ">=3.8.0-b3" }
              - { at: 8s, action: drop-sessions, fraction: 100% }
              - { at: 12s, action: unblock, firmware: ">=3.8.0-b3" }
              - { at: 13s, action: http-errors, fraction: 50%, for: 2s }
              - { at: 13s, action: dns-failure, for: 1s }
            """
        try yaml.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)

        // Without the token in the environment: invalid input, nothing run.
        let missing = try cli.fleetsim(["run", dir + "/s.yaml", "--out", dir + "/none", "-q"],
                                       environment: ["FLEETSIM_TEST_HEADER": header])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("hooks.block.token_env: environment variable FLEETSIM_TEST_HOOK_TOKEN is not set"), "\(missing.stderr)")

        let r = try cli.fleetsim(["run", dir + "/s.yaml", "--out", dir + "/out", "-q", "--log-level", "trace"],
                                 environment: ["FLEETSIM_TEST_HOOK_TOKEN": token, "FLEETSIM_TEST_HEADER": header])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try json(dir + "/out/report.json")
        let milestones = (report["milestones"] as! [[String: Any]]).map { $0["detail"] as! String }
        #expect(milestones.contains { $0.hasPrefix("firmware >=3.8.0-b3 blocked (hook: HTTP 200 in") }, "\(milestones)")
        #expect(milestones.contains { $0.hasPrefix("firmware >=3.8.0-b3 unblocked (hook: exit 0 in") }, "\(milestones)")
        // The block was real: after the drop, the 50 new-firmware devices were refused (4003).
        let summary = report["summary"] as! [String: Any]
        #expect((summary["rejects"] as! Int) >= 50)
        // The shell hook got its values shell-quoted and in its environment.
        #expect(try String(contentsOfFile: dir + "/unblocked.txt", encoding: .utf8) == ">=3.8.0-b3 at 12s")
        // A fault's hook runs at its start and at its end, with its values in wall time; a
        // client-side fault (dns-failure) needs none.
        #expect(try String(contentsOfFile: dir + "/faults.txt", encoding: .utf8) == "start 0.5 503 none 1s\nend 0.5 503 none 1s\n")
        #expect(milestones.contains { $0.hasPrefix("50% of upgrades answered 503 without Retry-After for 2s (hook: exit 0 in") }, "\(milestones)")
        #expect(milestones.contains { $0.hasPrefix("http-errors over: upgrades answered normally (hook: exit 0 in") }, "\(milestones)")
        #expect(milestones.contains("dns-failure over: the name resolves again"))
        // The secrets are nowhere in what the run wrote, nor in its logs (which did log: trace).
        #expect(r.stderr.contains("hook block: hook: HTTP 200"), "\(r.stderr)")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir + "/out") {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/out/" + file)), as: UTF8.self)
            #expect(!text.contains(token), "\(file) holds the token")
            #expect(!text.contains(header), "\(file) holds the header's value")
        }
        for text in [r.stdout, r.stderr] {
            #expect(!text.contains(token) && !text.contains(header))
        }
        try backendLog.synchronize()
        let logged = try String(contentsOfFile: dir + "/backend.log", encoding: .utf8)
        #expect(logged.contains("trace") || logged.contains("debug") || logged.contains("info"), "\(logged)")
        #expect(!logged.contains(header), "the backend logged the header's value")
    }

    /// A refused device waits as its policy says before the next attempt, on the wall clock at
    /// `time_scale`: one device with `random` 2 s – 4 s at ×2 against a server that answers every
    /// upgrade 503 (no Retry-After) must come back every 1 s – 2 s of wall time, not at a fixed pace.
    @Test func gapsBetweenReconnectAttemptsAreWithinThePolicysBounds() throws {
        let server = try RefusingServer()
        defer { server.stop() }
        let dir = try folder()
        let yaml = """
            version: 1
            name: gaps
            seed: 5
            duration: 30s
            interval: 2s
            time_scale: 2
            target: ws://127.0.0.1:\(server.port)/device
            profiles:
              p: { heartbeat: 10s, reconnect: { policy: random, min: 2s, max: 4s } }
            fleet:
              - { name: one, count: 1, firmware: 1.0.0, profile: p, join: { at: 0s } }
            """
        try yaml.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--out", dir + "/out", "-q")
        #expect(r.status == 0, "\(r.stderr)")
        let times = server.arrivals
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        // 15 s of wall time at 1–2 s per attempt: 7 to 15 attempts.
        #expect((7...16).contains(times.count), "\(times.count) attempts")
        // Bounds, with 150 ms for the connect and the refusal on a loaded machine.
        #expect(gaps.allSatisfy { $0 >= 0.95 && $0 <= 2.15 }, "\(gaps)")
        #expect((gaps.max() ?? 0) - (gaps.min() ?? 0) > 0.1, "the delays are drawn, not fixed: \(gaps)")
        let summary = try json(dir + "/out/report.json")["summary"] as! [String: Any]
        #expect(summary["connect_attempts"] as? Int == times.count)
    }

    /// A server none of us wrote, speaking another protocol: Python `websockets` (installed by
    /// .ci/run), with the scenario's `protocol:` profile.
    @Test func aRunAgainstAnotherServerSpeaksTheScenariosProtocol() throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import websockets.asyncio.server"]
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            print("skipped: python3 websockets is not installed")
            return
        }
        let dir = try folder()
        let server = """
            import asyncio, sys
            from websockets.asyncio.server import serve
            async def handler(ws):
                async for m in ws:
                    if m.startswith("HELLO "): await ws.send("WELCOME")
                    elif m.startswith("PING "): await ws.send("PONG " + m[5:])
            async def main():
                async with serve(handler, "127.0.0.1", 0) as s:
                    print(s.sockets[0].getsockname()[1], flush=True)
                    await asyncio.sleep(60)
            asyncio.run(main())
            """
        try server.write(toFile: dir + "/server.py", atomically: true, encoding: .utf8)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", dir + "/server.py"]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        defer { python.terminate() }
        let portLine = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let port = try #require(Int(portLine.trimmingCharacters(in: .whitespacesAndNewlines)))
        let scenario = Self.fleet.components(separatedBy: "timeline:")[0]
            .replacingOccurrences(of: "reconnect: { policy: full-jitter, base: 1s, cap: 4s } }",
                                  with: "reconnect: { policy: full-jitter, base: 1s, cap: 4s },\n       protocol: { hello: \"HELLO {uuid} {firmware}\", heartbeat: \"PING {seq}\", welcome: WELCOME, ack: \"PONG {seq}\" } }")
            .replacingOccurrences(of: "duration: 24s", with: "duration: 12s")
        try scenario.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--target", "ws://127.0.0.1:\(port)/", "--out", dir + "/out", "-q")
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try json(dir + "/out/report.json")["summary"] as! [String: Any]
        #expect(summary["connects"] as? Int == 200)
        #expect(summary["ack_timeouts"] as? Int == 0)
        #expect(summary["handshake_timeouts"] as? Int == 0)
        #expect(summary["online_fraction_final"] as? Double == 1.0)
    }
}

/// `fleetsim run`'s own flags: each mistake one line naming the flag, exit 2, nothing run.
@Suite(.tags(.network)) struct RunFlagTests {
    let cli = CommandLineTests()

    @Test func aBadShardTimeScaleOrTargetIsOneLineNamingTheFlag() throws {
        let scenario = ScenarioRuns.shipped("airtame-2020-02-08.yaml")
        for (flag, value, message) in [("--shard", "3/3", "--shard: expected i/n with 0 ≤ i < n"),
                                       ("--time-scale", "0", "--time-scale: expected a number in (0, 10000]"),
                                       ("--target", "http://x", "--target: expected a ws:// or wss:// URL")] {
            let r = try cli.fleetsim("run", scenario, flag, value)
            #expect(r.status == 2)
            #expect(r.stderr.contains(message), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func aHeaderWhoseEnvironmentVariableIsUnsetIsInvalidInput() throws {
        let dir = NSTemporaryDirectory() + "fleetsim-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let yaml = LiveRunTests.fleet.components(separatedBy: "timeline:")[0]
            + "target: { url: ws://127.0.0.1:9/device, headers: { Authorization: { env: FLEETSIM_TEST_UNSET_TOKEN } } }\n"
        try yaml.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--out", dir + "/out")
        #expect(r.status == 2)
        #expect(r.stderr.contains("target.headers.Authorization: environment variable FLEETSIM_TEST_UNSET_TOKEN is not set"))
    }
}

/// A loopback HTTP server that answers every request `503 Service Unavailable` without
/// Retry-After and records when each request's connection arrived (seconds, monotonic).
final class RefusingServer: @unchecked Sendable {  // `times` is protected by `lock`
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var times: [Double] = []
    private var stopped = false

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
        port = Int(UInt16(bigEndian: address.sin_port))
        let listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { return }
                let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
                var buffer = [UInt8](repeating: 0, count: 4096)
                // The runner's reachability probe connects and closes without a request: not an attempt.
                guard read(c, &buffer, buffer.count) > 0 else { close(c); continue }
                lock.lock(); times.append(now); lock.unlock()
                let reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                _ = reply.withCString { write(c, $0, strlen($0)) }
                close(c)
            }
        }
    }

    var arrivals: [Double] { lock.lock(); defer { lock.unlock() }; return times }

    func stop() {
        lock.lock(); defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
