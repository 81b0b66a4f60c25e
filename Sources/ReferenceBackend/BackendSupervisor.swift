import DeviceModel
import Foundation
import Logging
import ServiceLifecycle

/// The processes of one `fleetsim backend`: this process's `ReferenceBackend` and, for the first of
/// `processes > 1`, the others on the same port and registry file (each a `fleetsim backend
/// --launch FILE` child), the endpoints file once every one is up, and their stop.
///
/// The caller runs `services` in a `ServiceGroup` until a stop is asked for, then calls `stop()`.
/// Nothing here prints: the caller prints `banner()` and, in a worker, `reportLine`.
public final class BackendSupervisor: @unchecked Sendable {  // `start()` and `stop()` run one after the other on one task
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let launch: BackendLaunch
    public let backend: ReferenceBackend
    private let executable: String
    private let logLevel: Logger.Level
    private let logger: Logger
    /// The registry file this supervisor made up (several processes need one file): removed at stop.
    private let ownedDatabase: String?
    private var children: [Process] = []
    private var launchFiles: [String] = []
    public private(set) var endpoints: BackendEndpoints?
    public private(set) var port = 0

    /// `executable`: the `fleetsim` binary the other processes run.
    public init(launch: BackendLaunch, executable: String, logLevel: Logger.Level, logger: Logger) {
        var launch = launch
        var owned: String?
        if launch.processes > 1 && launch.configuration.databasePath == nil {
            let path = NSTemporaryDirectory() + "fleetsim-backend-\(getpid()).sqlite"
            launch.configuration.databasePath = path
            owned = path
        }
        if launch.processes > 1 && launch.configuration.adminToken == nil {
            launch.configuration.adminToken = (0..<2).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        }
        self.launch = launch
        self.executable = executable
        self.logLevel = logLevel
        self.logger = logger
        ownedDatabase = owned
        backend = ReferenceBackend(configuration: launch.processConfiguration, logger: logger)
    }

    /// Starts this process's backend and, in the first of several, the others; once every one is
    /// healthy, writes the endpoints file. On failure everything started is stopped again.
    @discardableResult
    public func start() async throws -> BackendEndpoints? {
        let c = launch.configuration
        do {
            port = try await backend.start().port
        } catch {
            removeOwnedDatabase()
            throw Failure(description: "cannot start on \(c.host):\(c.port): \(error)")
        }
        do {
            var processes: [BackendEndpoints.Process] = []
            if let control = backend.controlPort { processes.append(.init(index: launch.workerIndex ?? 0, pid: getpid(), controlPort: control)) }
            if launch.processes > 1 { processes += try await startWorkers() }
            guard !launch.isWorker else { return nil }
            let e = BackendEndpoints(deviceURL: "ws://\(Self.connectHost(c.host)):\(port)/device", adminToken: backend.adminToken,
                                     processes: processes)
            if let path = launch.endpointsFile {
                do { try e.write(to: path) } catch { throw Failure(description: "--endpoints-file: cannot write \(path): \(error)") }
            }
            endpoints = e
            return e
        } catch {
            await stop(removingEndpoints: false)
            throw error
        }
    }

    /// What a worker prints on standard output once it is up, for the first process to read.
    public var reportLine: String? {
        guard let index = launch.workerIndex else { return nil }
        return "control \(index) \(getpid()) \(backend.controlPort ?? 0)"
    }

    /// The services to run until a stop: the backend, and the watch for a vanished parent.
    public var services: [any Service] {
        var s: [any Service] = [ReferenceBackendService(backend)]
        if launch.stopWithParent { s.append(ParentWatch(parent: getppid())) }
        return s
    }

    /// Stops this process's backend (every pending `last_seen` update written), removes the
    /// endpoints file, stops the other processes and waits for them, removes a registry it made up.
    public func stop() async { await stop(removingEndpoints: true) }

    private func stop(removingEndpoints: Bool) async {
        try? await backend.shutdown()   // nothing left to do when the group has shut it down
        if removingEndpoints, endpoints != nil, let path = launch.endpointsFile { try? FileManager.default.removeItem(atPath: path) }
        for child in children where child.isRunning { kill(child.processIdentifier, SIGTERM) }
        for child in children { await Self.waitForExit(of: child) }
        children = []
        removeLaunchFiles()
        removeOwnedDatabase()
    }

    /// What the first process says once every process is up.
    public func banner() -> [String] {
        let c = launch.configuration
        let hostText = c.host.contains(":") ? "[\(c.host)]" : c.host
        var lines = ["fleetsim backend: listening on ws://\(hostText):\(port)/device  (http://\(hostText):\(port)/metrics, /healthz, /admin)"]
        if let r = backend.registry {
            let rosterNote = c.roster.map { ", \($0.count) from the roster" } ?? ""
            lines.append("  registry: \(backend.databaseFile) (\(r.rows) rows\(r.seeded ? rosterNote : ""), "
                         + (r.seeded ? String(format: "seeded in %.2f s", r.seedSeconds) : "reused")
                         + "\(r.seeded || c.roster == nil ? "" : "; --roster ignored"))"
                         + (c.databasePath == nil || ownedDatabase != nil ? ", removed at exit" : ""))
        }
        lines.append("  lookup: \(c.lookup)  block: \(c.blockedFirmware.isEmpty ? "none" : c.blockedFirmware.map(\.text).joined(separator: ", "))  admission: \(c.admission)")
        lines.append("  memory limit: \(c.memoryLimit.map { Units.format(bytes: Int64($0)) } ?? "none")  db workers: \(c.databaseWorkers)  processes: \(launch.processes)")
        // With an endpoints file (a program started this backend), the token is there, not in its log.
        lines.append("  admin token: " + (launch.endpointsFile == nil ? "\(backend.adminToken)   (Authorization: Bearer TOKEN)" : "in the endpoints file"))
        if let e = endpoints, !e.processes.isEmpty {
            lines.append("  control: " + e.processes.map { "#\($0.index) pid \($0.pid) \($0.controlURL)" }.joined(separator: ", "))
        }
        if let path = launch.endpointsFile { lines.append("  endpoints: \(path)") }
        if let limit = c.memoryLimit, ProcessStats.anonymousBytes() >= limit {
            lines.append("  warning: --memory-limit \(Units.format(bytes: Int64(limit))) is below this process's memory at start (\(Units.format(bytes: Int64(ProcessStats.anonymousBytes())))): it will crash in a loop")
        }
        if !["127.0.0.1", "::1", "localhost"].contains(c.host) {
            lines.append("  warning: listening on \(c.host), not loopback: reachable from other machines")
        }
        return lines
    }

    /// Starts processes 1…N-1 and waits until each has reported its control port (it has opened
    /// its device and control listeners).
    private func startWorkers() async throws -> [BackendEndpoints.Process] {
        var reports: [WorkerReport] = []
        for index in 1..<launch.processes {
            let file = NSTemporaryDirectory() + "fleetsim-backend-\(getpid())-worker-\(index).json"
            let child = Process()
            child.executableURL = URL(fileURLWithPath: executable)
            child.arguments = BackendLaunch.arguments(file: file, logLevel: logLevel)
            let out = Pipe()
            child.standardOutput = out
            do {
                try launch.worker(index, port: port, databasePath: launch.configuration.databasePath!,
                                  adminToken: backend.adminToken).write(to: file)
                launchFiles.append(file)
                try child.run()
            } catch {
                throw Failure(description: "cannot start worker process \(index): \(error)")
            }
            children.append(child)
            reports.append(WorkerReport(index: index, pipe: out))
        }
        var processes: [BackendEndpoints.Process] = []
        for report in reports {
            guard let endpoint = await report.endpoint(within: 120) else {
                throw Failure(description: "worker process \(report.index) did not start (see its error above)")
            }
            processes.append(endpoint)
        }
        removeLaunchFiles()   // read by now
        return processes
    }

    private func removeLaunchFiles() {
        for file in launchFiles { try? FileManager.default.removeItem(atPath: file) }
        launchFiles = []
    }

    private func removeOwnedDatabase() {
        guard let path = ownedDatabase else { return }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Waits for a child process to exit, off the concurrency pool's threads.
    static func waitForExit(of child: Process) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                child.waitUntilExit()
                continuation.resume()
            }
        }
    }

    /// The host a client on this machine connects to: a wildcard address means loopback.
    static func connectHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": return "127.0.0.1"
        case "::", "[::]": return "[::1]"
        default: return host.contains(":") ? "[\(host)]" : host
        }
    }
}

/// Returns (which shuts the group down) when the process that started this one has gone: a
/// worker, or an embedded backend, never outlives its parent.
private struct ParentWatch: Service {
    let parent: pid_t

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while getppid() == parent { try await Task.sleep(for: .seconds(1)) }
        }
    }
}

/// Reads a worker process's one report line (`control INDEX PID PORT`) on a thread of its own.
private final class WorkerReport: @unchecked Sendable {  // `result` and `waiter` are protected by `lock`
    let index: Int
    private let lock = NSLock()
    private var result: BackendEndpoints.Process??
    private var waiter: CheckedContinuation<BackendEndpoints.Process?, Never>?

    init(index: Int, pipe: Pipe) {
        self.index = index
        let thread = Thread { [self] in
            var text = ""
            while !text.contains("\n") {
                let data = pipe.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            let fields = text.split(separator: "\n").first?.split(separator: " ") ?? []
            if fields.count == 4, fields[0] == "control", let i = Int(fields[1]), let pid = Int32(fields[2]), let port = Int(fields[3]), port > 0 {
                self.finish(BackendEndpoints.Process(index: i, pid: pid, controlPort: port))
            } else {
                self.finish(nil)
            }
            // Keep draining: a worker that writes more must never block on a full pipe.
            while !pipe.fileHandleForReading.availableData.isEmpty {}
        }
        thread.start()
    }

    /// The first answer wins: the worker's line (or nil: it exited without one), or the deadline.
    private func finish(_ endpoint: BackendEndpoints.Process?) {
        let waiting = lock.withLock { () -> CheckedContinuation<BackendEndpoints.Process?, Never>? in
            guard result == nil else { return nil }
            result = .some(endpoint)
            defer { waiter = nil }
            return waiter
        }
        waiting?.resume(returning: endpoint)
    }

    /// The worker's control endpoint once it reports, or nil when it did not within `seconds`.
    func endpoint(within seconds: Int) async -> BackendEndpoints.Process? {
        let deadline = Task { [self] in
            try? await Task.sleep(for: .seconds(seconds))
            finish(nil)
        }
        defer { deadline.cancel() }
        return await withCheckedContinuation { continuation in
            let done = lock.withLock { () -> BackendEndpoints.Process?? in
                if let result { return .some(result) }
                waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}
