import DeviceModel
import Foundation
import Logging
import LoadReport

/// The reference backend as child processes of a live run, configured from the scenario's
/// `backend:` (the mapping is `arguments(…)`, documented key by key in scenarios/README.md) and
/// seeded from the fleet plan, so that the fleet's lookups find their rows and a scan reads the
/// `database.rows` rows the scenario names. Its file descriptors and CPU are not the fleet's.
public final class EmbeddedBackend: @unchecked Sendable {  // immutable after start, except `process`, which only `stop()` touches
    public struct Endpoints: Decodable, Sendable {
        public struct Process: Decodable, Sendable {
            public var index: Int
            public var pid: Int32
            public var controlURL: String
            enum CodingKeys: String, CodingKey { case index, pid, controlURL = "control_url" }
        }
        public var deviceURL: String
        public var adminToken: String
        public var processes: [Process]
        enum CodingKeys: String, CodingKey { case deviceURL = "device_url", adminToken = "admin_token", processes }
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public let endpoints: Endpoints
    private let process: Process
    private let log: FileHandle?

    /// The `fleetsim backend` arguments for a scenario:
    /// `gateways.count` → `--processes` (a gateway is a process on the shared port),
    /// `gateways.memory_limit` → `--memory-limit` (each process's anonymous memory),
    /// `gateways.per_pending` → `--pending-memory` (held by each handshake waiting for its lookup),
    /// `gateways.restart` → `--restart-delay` (÷ time scale),
    /// `database.queue_timeout` → `--queue-timeout` (÷ time scale),
    /// `database.cores` → `--db-workers` (per process: cores ÷ processes, rounded up),
    /// `database.rows` → `--rows` (the fleet's rows first, filler rows up to it),
    /// each profile's `lookup` → `--lookup` rules for its groups' firmware,
    /// `admission` → `--admission-rate`, `--admission-burst`, `--max-pending`, `--admission-retry-after` (÷ time scale).
    /// `database.rows × scan_cost_per_row`, `indexed_cost`, `heartbeat_cost` (÷ `speed`, ÷ time scale)
    /// → `--scan-cost`, `--indexed-cost`, `--heartbeat-cost`: the stated costs the database holds.
    /// Model-only keys (memory base and per connection, load balancer) have no live meaning: the
    /// real process has the memory it has.
    public static func arguments(for scenario: Scenario, timeScale: Double, roster: String, endpointsFile: String,
                                 logLevel: Logger.Level = .warning) -> [String] {
        let b = scenario.backend
        let processes = max(1, b.gateways.count)
        func scaled(_ ns: Nanoseconds) -> String { Units.format(duration: max(Time.millisecond, Nanoseconds(Double(ns) / timeScale))) }
        var a = ["backend", "--port", "0", "--processes", String(processes), "--roster", roster,
                 "--rows", String(max(b.database.rows, scenario.totalDevices)),
                 "--db-workers", String(max(1, (b.database.cores + processes - 1) / processes)),
                 "--restart-delay", scaled(b.gateways.restart), "--endpoints-file", endpointsFile, "--stop-with-parent",
                 "--log-level", logLevel.rawValue]
        if b.gateways.memoryLimit > 0 && b.gateways.memoryLimit < Int64(1) << 50 {
            a += ["--memory-limit", "\(b.gateways.memoryLimit)B"]
        }
        if b.gateways.perPending > 0 { a += ["--pending-memory", "\(b.gateways.perPending)B"] }
        if let t = b.database.queueTimeout { a += ["--queue-timeout", scaled(t)] }
        let costs = statedCosts(for: scenario, timeScale: timeScale)
        a += ["--scan-cost", Units.format(duration: costs.scan), "--indexed-cost", Units.format(duration: costs.indexed),
              "--heartbeat-cost", Units.format(duration: costs.heartbeat)]
        var rules: [String] = []
        for g in scenario.fleet where scenario.profiles[g.profile]?.lookup == .scan {
            let rule = "scan:\(g.firmware)"
            if !rules.contains(rule) { rules.append(rule) }
        }
        if !rules.isEmpty { a += ["--lookup", rules.joined(separator: "; ")] }
        if let adm = b.admission {
            if let r = adm.connectRate { a += ["--admission-rate", "\(r * timeScale)"] }
            if let burst = adm.burst { a += ["--admission-burst", String(Int(burst.rounded(.up)))] }
            if let p = adm.maxPending { a += ["--max-pending", String(p)] }
            a += ["--admission-retry-after", scaled(adm.retryAfter)]
        }
        return a
    }

    /// The database's stated costs on the wall clock: the scenario's own (a scan is `rows ×
    /// scan_cost_per_row`, as the model charges it, ÷ `speed`) divided by the time scale. The
    /// embedded database holds each query for them, so its capacity is the scenario's on any
    /// machine; a real query slower than its stated cost is reported, never hidden.
    public static func statedCosts(for scenario: Scenario, timeScale: Double) -> (scan: Nanoseconds, indexed: Nanoseconds, heartbeat: Nanoseconds) {
        let db = scenario.backend.database
        func wall(_ ns: Double) -> Nanoseconds { max(0, Nanoseconds((ns / db.speed / timeScale).rounded())) }
        return (wall(Double(db.rows) * Double(db.scanCostPerRow)), wall(Double(db.indexedCost)), wall(Double(db.heartbeatCost)))
    }

    /// Starts `executable backend …` and waits until every process is healthy.
    /// Its processes log at `logLevel` into `backend.log` in `folder`.
    public static func start(executable: String, scenario: Scenario, plan: FleetPlan, timeScale: Double,
                             folder: String, timeout: Double = 120, logLevel: Logger.Level = .warning) throws -> EmbeddedBackend {
        let roster = folder + "/backend-roster.csv"
        let endpointsFile = folder + "/backend-endpoints.json"
        try? FileManager.default.removeItem(atPath: endpointsFile)
        do { try plan.rosterCSV().write(toFile: roster, atomically: true, encoding: .utf8) } catch {
            throw Failure(description: "cannot write \(roster): \(error.localizedDescription)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments(for: scenario, timeScale: timeScale, roster: roster, endpointsFile: endpointsFile, logLevel: logLevel)
        _ = FileManager.default.createFile(atPath: folder + "/backend.log", contents: nil)
        let log = FileHandle(forWritingAtPath: folder + "/backend.log")
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw Failure(description: "cannot start the embedded backend (\(executable)): \(error.localizedDescription)") }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !p.isRunning {
                let tail = (try? String(contentsOfFile: folder + "/backend.log", encoding: .utf8))?
                    .split(separator: "\n").last.map(String.init) ?? ""
                throw Failure(description: "the embedded backend exited with status \(p.terminationStatus) before it was ready: \(tail)")
            }
            if let data = FileManager.default.contents(atPath: endpointsFile), !data.isEmpty,
               let e = try? JSONDecoder().decode(Endpoints.self, from: data) {
                return EmbeddedBackend(endpoints: e, process: p, log: log)
            }
            usleep(100_000)
        }
        kill(p.processIdentifier, SIGKILL)
        throw Failure(description: "the embedded backend was not ready within \(Int(timeout)) s (see \(folder)/backend.log)")
    }

    private init(endpoints: Endpoints, process: Process, log: FileHandle?) {
        self.endpoints = endpoints
        self.process = process
        self.log = log
    }

    /// Stops every backend process: SIGTERM, then SIGKILL after `grace` seconds.
    public func stop(grace: Double = 10) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            for p in endpoints.processes { kill(p.pid, SIGKILL) }
        }
        process.waitUntilExit()
        try? log?.close()
    }

    /// An admin request to process `index`.
    func admin(_ path: String, body: String, process index: Int) throws {
        let url = endpoints.processes[index].controlURL + path
        let r = try HTTPRequest.send("POST", url, headers: [("Authorization", "Bearer \(endpoints.adminToken)")], body: body)
        guard (200..<300).contains(r.status) else {
            throw Failure(description: "\(path) answered \(r.status): \(r.body.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
