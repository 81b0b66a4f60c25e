import DeviceModel
import Foundation
import Logging
import LoadReport
import NIOCore
import ReferenceBackend

/// The reference backend as child processes of a live run, configured from the scenario's
/// `backend:` (the mapping is `configuration(…)`, documented key by key in scenarios/README.md) and
/// seeded from the fleet plan, so that the fleet's lookups find their rows and a scan reads the
/// `database.rows` rows the scenario names. Its file descriptors and CPU are not the fleet's.
public final class EmbeddedBackend: @unchecked Sendable {  // immutable after start, except `process`, which only `stop()` touches
    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public let endpoints: BackendEndpoints
    private let process: Process
    private let log: FileHandle?

    /// The backend for a scenario, every duration and rate in wall time (`LiveClock.wall`):
    /// `gateways.count` → processes (a gateway is a process on the shared port),
    /// `gateways.memory_limit` → `memoryLimit` (each process's anonymous memory),
    /// `gateways.per_pending` → `pendingMemory` (held by each handshake waiting for its lookup),
    /// `gateways.restart` → `restartDelay`,
    /// `database.queue_timeout` → `queueTimeout`,
    /// `database.cores` → `databaseWorkers` (per process: `BackendLaunch.databaseWorkers`),
    /// `database.rows` → `rows` (the fleet's rows first, as the `roster`, filler rows up to it),
    /// each profile's `lookup` → `lookup` rules for its groups' firmware,
    /// `admission` → `admission` (rate, burst, max pending, Retry-After),
    /// `database.rows × scan_cost_per_row`, `indexed_cost`, `heartbeat_cost` (÷ `speed`) →
    /// `statedCosts`: what each query holds a database worker for (`StatedQueryCosts`).
    /// Model-only keys (memory base and per connection, load balancer) have no live meaning: the
    /// real process has the memory it has.
    public static func launch(for scenario: Scenario, plan: FleetPlan, timeScale: Double, endpointsFile: String) -> BackendLaunch {
        let b = scenario.backend
        let processes = max(1, b.gateways.count)
        func wall(_ ns: Nanoseconds) -> Nanoseconds { LiveClock.wall(ns, timeScale: timeScale) }
        var c = ReferenceBackendConfiguration()
        c.port = 0
        c.roster = plan.roster()
        c.rows = max(b.database.rows, scenario.totalDevices)
        c.databaseWorkers = BackendLaunch.databaseWorkers(cores: b.database.cores, processes: processes)
        c.restartDelay = .nanoseconds(wall(b.gateways.restart))
        if b.gateways.memoryLimit > 0 && b.gateways.memoryLimit < Int64(1) << 50 { c.memoryLimit = Int(b.gateways.memoryLimit) }
        c.pendingMemory = Int(max(0, b.gateways.perPending))
        c.queueTimeout = b.database.queueTimeout.map { .nanoseconds(wall($0)) }
        c.statedCosts = statedCosts(for: scenario, timeScale: timeScale)
        var rules: [LookupPolicy.Rule] = []
        for g in scenario.fleet where scenario.profiles[g.profile]?.lookup == .scan {
            // The group's one version, as a range that holds it alone.
            let rule = LookupPolicy.Rule(kind: .scan, range: try? FirmwareRange(parsing: g.firmware.description))
            if !rules.contains(rule) { rules.append(rule) }
        }
        c.lookup = LookupPolicy(rules: rules)
        if let a = b.admission { c.admission = a.scaled(timeScale: timeScale) }
        return BackendLaunch(configuration: c, processes: processes, endpointsFile: endpointsFile, stopWithParent: true)
    }

    /// The database's stated costs on the wall clock: the scenario's own (a scan is `rows ×
    /// scan_cost_per_row`, as the model charges it, ÷ `speed`) divided by the time scale. The
    /// embedded database holds each query for them, so its capacity is the scenario's on any
    /// machine; a real query slower than its stated cost is reported, never hidden.
    public static func statedCosts(for scenario: Scenario, timeScale: Double) -> StatedQueryCosts {
        let db = scenario.backend.database
        // Not `LiveClock.wall`, whose floor of a millisecond suits timeouts: a stated lookup may be 50 µs.
        func wall(_ ns: Double) -> TimeAmount { .nanoseconds(max(0, Nanoseconds((ns / db.speed / timeScale).rounded()))) }
        return StatedQueryCosts(scan: wall(Double(db.rows) * Double(db.scanCostPerRow)), indexed: wall(Double(db.indexedCost)),
                                heartbeat: wall(Double(db.heartbeatCost)))
    }

    /// Starts `executable backend --launch FILE` and waits until every process is healthy.
    /// Its processes log at `logLevel` into `backend.log` in `folder`.
    public static func start(executable: String, scenario: Scenario, plan: FleetPlan, timeScale: Double,
                             folder: String, timeout: Double = 120, logLevel: Logger.Level = .warning) throws -> EmbeddedBackend {
        let launchFile = folder + "/backend-launch.json"
        let endpointsFile = folder + "/backend-endpoints.json"
        try? FileManager.default.removeItem(atPath: endpointsFile)
        do { try launch(for: scenario, plan: plan, timeScale: timeScale, endpointsFile: endpointsFile).write(to: launchFile) } catch {
            throw Failure(description: "cannot write \(launchFile): \(error)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = BackendLaunch.arguments(file: launchFile, logLevel: logLevel)
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
            if let e = try? BackendEndpoints(contentsOf: endpointsFile) {
                return EmbeddedBackend(endpoints: e, process: p, log: log)
            }
            usleep(100_000)
        }
        kill(p.processIdentifier, SIGKILL)
        throw Failure(description: "the embedded backend was not ready within \(Int(timeout)) s (see \(folder)/backend.log)")
    }

    private init(endpoints: BackendEndpoints, process: Process, log: FileHandle?) {
        self.endpoints = endpoints
        self.process = process
        self.log = log
    }

    /// Database workers per process for `cores` in total (a `set-db-cores` action).
    func databaseWorkers(cores: Int) -> Int {
        BackendLaunch.databaseWorkers(cores: cores, processes: endpoints.processes.count)
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
