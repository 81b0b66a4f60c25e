import Foundation
import Testing

/// `fleetsim run --processes N`: real child processes, each a shard of the fleet on its own
/// loopback source address, against one embedded backend on loopback; each run bounded in time.
@Suite(.serialized, .tags(.slow, .network)) struct LocalShardsTests {
    let cli = CommandLineTests()

    /// A fleet of 301 devices, a network drop that each shard counts for its devices, and a
    /// restart that the backend's side carries out once for all.
    static func fleet(duration: String = "12s", thresholds: String = "devices: [\"value >= 301\"]") -> String {
        """
        version: 1
        name: local-shards
        seed: 11
        duration: \(duration)
        interval: 2s
        profiles:
          p: { lookup: indexed, heartbeat: 3s, handshake_timeout: 6s, ack_timeout: 6s,
               reconnect: { policy: full-jitter, base: 1s, cap: 4s } }
        fleet:
          - { name: all, count: 301, firmware: 3.9.1, profile: p, join: { ramp: 2s } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB }
          database: { cores: 2, rows: 5000, indexed_cost: 1ms, heartbeat_cost: 1ms }
        timeline:
          - { at: 4s, action: drop-sessions, fraction: 0.5 }
          - { at: 6s, action: restart-gateways, down: 1s }
        thresholds:
          \(thresholds)
        """
    }

    func folder(_ scenario: String) throws -> String {
        let dir = NSTemporaryDirectory() + "fleetsim-local-shards-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try scenario.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    /// Two local shards give the devices, connects and timeline of one process; the drop's count
    /// is the two shards' counts added, the restart is one milestone and one mass disconnect of
    /// the whole fleet; the fleet's threshold passes although each shard alone fails it.
    @Test func twoLocalShardsGiveTheReportOfOneRun() throws {
        let dir = try folder(Self.fleet())
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one = try cli.fleetsim(["run", dir + "/s.yaml", "--processes", "1", "--out", dir + "/one", "-q"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = try cli.fleetsim(["run", dir + "/s.yaml", "--processes", "2", "--out", dir + "/two", "-q"])
        #expect(two.status == 0, "\(two.stderr)")
        let a = try json(dir + "/one/report.json"), b = try json(dir + "/two/report.json")
        #expect(b["incomplete"] == nil && b["shard"] == nil)
        let sa = a["summary"] as! [String: Any], sb = b["summary"] as! [String: Any]
        #expect(sa["devices"] as? Int == 301 && sb["devices"] as? Int == 301)
        // Every device connected, dropped or restarted, and came back, in both.
        #expect((sb["connects"] as! Int) >= 301 + 100, "\(sb)")
        #expect((sb["disconnects_by_cause"] as! [String: Int]).values.reduce(0, +) == sb["disconnects"] as! Int)
        #expect(sb["online_fraction_final"] as? Double == 1)

        // Each shard drove its half, from its own source address, and failed the fleet's threshold alone.
        let shards = try (0..<2).map { try json(dir + "/two/shard-\($0)/report.json") }
        #expect(shards.map { $0["shard"] as? String } == ["0/2", "1/2"])
        #expect(shards.map { ($0["summary"] as! [String: Any])["devices"] as? Int } == [151, 150])
        #expect(shards.allSatisfy { ($0["thresholds"] as! [[String: Any]])[0]["ok"] as? Bool == false })
        // The fleet's handshake histogram holds every shard's handshakes, no more, no fewer.
        func handshakes(_ r: [String: Any]) -> Int { ((r["summary"] as! [String: Any])["handshake_ms"] as! [String: Any])["count"] as! Int }
        #expect(handshakes(b) == shards.map(handshakes).reduce(0, +) && handshakes(b) == sb["connects"] as! Int)

        // The drop: one milestone whose count is the shards' counts added; the restart once.
        let milestones = b["milestones"] as! [[String: Any]]
        let drops = milestones.filter { ($0["detail"] as! String).contains("network drops 50% of sessions") }
        #expect(drops.count == 1)
        let shardDrops = shards.map { s in
            ((s["milestones"] as! [[String: Any]]).first { ($0["detail"] as! String).contains("network drops") }?["counts"] as? [Int])?.first ?? -1
        }
        #expect((drops.first?["counts"] as? [Int]) == [shardDrops.reduce(0, +)] && shardDrops.allSatisfy { $0 > 0 })
        #expect(milestones.filter { ($0["detail"] as! String).contains("all gateways restarted") }.count == 1)
        // The restart dropped every device of both shards: one mass disconnect of (nearly) the fleet.
        let episodes = (b["storm"] as! [String: Any])["mass_disconnects"] as! [[String: Any]]
        let restart = episodes.filter { ($0["t_s"] as! Double) >= 6 }
        #expect(restart.count == 1 && (restart.first?["devices"] as? Int ?? 0) >= 290, "\(episodes)")
        // The backend's series come from the parent's one scrape per interval.
        let series = b["series"] as! [String: Any]
        #expect((series["t_s"] as! [Double]).count == 6)
        #expect((series["backend_memory_bytes"] as! [Int]).allSatisfy { $0 > 0 })
        #expect(b["database"] != nil)
        // The merged series.jsonl was written as the shards went: one line per interval.
        let lines = try String(contentsOfFile: dir + "/two/series.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 6)
    }

    /// The gate is the fleet's: a threshold each shard passes alone but the fleet fails exits 1.
    @Test func theFleetFailsAThresholdEveryShardPasses() throws {
        let dir = try folder(Self.fleet(duration: "8s", thresholds: "devices: [\"value <= 200\"]"))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try cli.fleetsim(["run", dir + "/s.yaml", "--processes", "2", "--out", dir + "/out", "-q"])
        #expect(r.status == 1, "\(r.stderr)")
        let shards = try (0..<2).map { try json(dir + "/out/shard-\($0)/report.json") }
        #expect(shards.allSatisfy { ($0["thresholds"] as! [[String: Any]])[0]["ok"] as? Bool == true })
    }

    /// `abort_on_fail` is judged on the fleet: the drop takes half the devices offline, the parent
    /// stops every shard, and exits 1 with the report of what ran.
    @Test func abortOnFailStopsEveryShard() throws {
        let dir = try folder(Self.fleet(duration: "2m", thresholds: "online_fraction: [{ threshold: \"min >= 0.9\", abort_on_fail: true }]"))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let started = Date()
        let r = try cli.fleetsim(["run", dir + "/s.yaml", "--processes", "2", "--out", dir + "/out", "-q"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("abort_on_fail"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 60)
        let report = try json(dir + "/out/report.json")
        #expect(((report["series"] as! [String: Any])["t_s"] as! [Double]).count < 20)
    }

    /// A shard killed halfway is named; the others stop and write their reports; the merged
    /// report says it is incomplete (the dead shard's series stands in for its report), exit 3.
    @Test func aShardThatDiesIsNamedAndTheRunIsIncomplete() throws {
        let dir = try folder(Self.fleet(duration: "2m"))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = CommandLineTests.binary
        process.arguments = ["run", dir + "/s.yaml", "--processes", "2", "--out", dir + "/out", "-q"]
        let stderr = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // Wait until shard 1 has written two intervals, then kill it as the OOM killer would.
        let series = dir + "/out/shard-1/series.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? String(contentsOfFile: series, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 3 { usleep(100_000) }
        let pids = try shardPIDs(parent: process.processIdentifier)
        #expect(pids.count == 2)
        guard pids.count == 2 else { return }
        kill(pids[1], SIGKILL)
        let end = Date().addingTimeInterval(60)
        while process.isRunning, Date() < end { usleep(50_000) }
        #expect(!process.isRunning)
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 3, "\(message)")
        #expect(message.contains("shard 1/2 (pid \(pids[1])) died: killed by signal 9"), "\(message)")
        let report = try json(dir + "/out/report.json")
        let incomplete = report["incomplete"] as? String ?? ""
        #expect(incomplete.contains("shard 1/2 (pid \(pids[1])) died"), "\(incomplete)")
        #expect(incomplete.contains("rebuilt from"), "\(incomplete)")
        // The surviving shard stopped cleanly with its own report.
        let survivor = try json(dir + "/out/shard-0/report.json")
        #expect((survivor["incomplete"] as? String)?.contains("interrupted") == true)
        #expect((report["summary"] as! [String: Any])["devices"] as? Int == 301)
    }

    /// The child processes of `parent` that are shards, in shard order, with their arguments.
    func shardPIDs(parent: Int32) throws -> [Int32] {
        var shards: [(Int, Int32)] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  status.split(separator: "\n").contains("PPid:\t\(parent)") else { continue }
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            let args = cmdline.split(separator: "\0").map(String.init)
            if let k = args.firstIndex(of: "--shard"), k + 1 < args.count, args.contains("--local-shard"),
               let index = Int(args[k + 1].split(separator: "/")[0]) {
                // Each shard connects from its own loopback address.
                #expect(args.contains("127.0.0.\(2 + index)"), "\(args)")
                shards.append((index, pid))
            }
        }
        return shards.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
