import ArgumentParser
import DeviceModel
import Dispatch
import Foundation
import ReferenceBackend

/// `fleetsim backend`: the reference backend on its own (argument parsing and wiring only).
struct BackendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backend",
        abstract: "Run the reference backend: a WebSocket device endpoint over a real SQLite registry.",
        discussion: """
            Devices connect to ws://HOST:PORT/device and speak the default protocol: hello → welcome, \
            heartbeat → ack. Beside it: /metrics (Prometheus text), /healthz, and /admin (bearer token).

            The registry can repeat the 2020-02-08 mistake: '--lookup scan:>=3.8.0-b3' makes devices on \
            3.8.0-b3 and above look themselves up with a query SQLite answers by reading every row.

            Examples:
              fleetsim backend --rows 1M
              fleetsim backend --rows 64000 --lookup 'scan:>=3.8.0-b3' --memory-limit 2GiB
              fleetsim backend --block '>=3.8.0-b3' --admission-rate 200 --max-pending 100
              curl -H "Authorization: Bearer $TOKEN" -d '>=3.8.0-b3' http://127.0.0.1:8080/admin/block

            Admin routes (all need 'Authorization: Bearer TOKEN'): GET /admin; POST /admin/block, \
            /admin/unblock (body: a firmware range, or 'all'), /admin/lookup (body: a strategy), \
            /admin/admission (body: 'off' or 'rate=200 burst=400 max-pending=100'), /admin/restart.

            With --processes N, the processes share the port and the registry file: block, lookup and \
            admission changes made through /admin reach all of them within half a second; /admin/restart \
            restarts the one that answered, and /metrics describes the one that answered \
            (fleetsim_backend_process_info names it).
            """)

    @Option(name: .long, help: ArgumentHelp("Address to listen on. Loopback unless you name another.", valueName: "address"))
    var listen = "127.0.0.1"

    @Option(name: .long, help: ArgumentHelp("Port to listen on (0: any free port).", valueName: "port"))
    var port = "8080"

    @Option(name: .long, help: ArgumentHelp("Registry file: reused when it exists, created and seeded when not. Default: a temporary file removed at exit.", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("Devices seeded into a new registry, e.g. 100000 or 1M.", valueName: "n"))
    var rows = "100000"

    @Option(name: .long, help: ArgumentHelp("UUID lookup strategy per firmware range: 'indexed', 'scan', 'scan:>=3.8.0-b3', or rules joined with ';' (first match wins, default indexed).", valueName: "strategy"))
    var lookup = "indexed"

    @Option(name: .long, help: ArgumentHelp("Firmware range refused at upgrade (403) or hello (close 4003), before any database work. Repeatable.", valueName: "range"))
    var block: [String] = []

    @Option(name: .customLong("db-workers"), help: ArgumentHelp("Threads running database work. Default: the number of cores.", valueName: "n"))
    var dbWorkers: String?

    @Option(name: .customLong("event-loops"), help: ArgumentHelp("Event-loop threads. Default: the number of cores.", valueName: "n"))
    var eventLoops: String?

    @Option(name: .customLong("admission-rate"), help: ArgumentHelp("Admission control: upgrades admitted per second (token bucket); excess gets 503 with Retry-After. Default: off.", valueName: "per-second"))
    var admissionRate: String?

    @Option(name: .customLong("admission-burst"), help: ArgumentHelp("Admission control: bucket size. Default: one second's worth of --admission-rate.", valueName: "n"))
    var admissionBurst: String?

    @Option(name: .customLong("max-pending"), help: ArgumentHelp("Admission control: handshakes waiting for the database beyond which new ones get 503 or close 1013. Default: off.", valueName: "n"))
    var maxPending: String?

    @Option(name: .customLong("memory-limit"), help: ArgumentHelp("Anonymous resident memory (heap, not the mapped registry file) past which the backend 'crashes' like the 2020 backends: drops every connection, counts a crash and reopens after --restart-delay. E.g. 2GiB. Default: none.", valueName: "size"))
    var memoryLimit: String?

    @Option(name: .customLong("restart-delay"), help: ArgumentHelp("How long the listener stays closed after a crash or an admin restart.", valueName: "duration"))
    var restartDelay = "5s"

    @Option(name: .customLong("hello-timeout"), help: ArgumentHelp("Devices that send no hello this long after upgrading are closed with 4008.", valueName: "duration"))
    var helloTimeout = "10s"

    @Option(name: .customLong("request-timeout"), help: ArgumentHelp("Connections that send no complete HTTP request this long get 408.", valueName: "duration"))
    var requestTimeout = "10s"

    @Option(name: .customLong("max-frame-size"), help: ArgumentHelp("Largest WebSocket frame accepted; larger ones are closed with 1009.", valueName: "size"))
    var maxFrameSize = "4KiB"

    @Option(name: .customLong("flush-interval"), help: ArgumentHelp("How often heartbeats' last_seen updates are written (batched).", valueName: "duration"))
    var flushInterval = "1s"

    @Option(name: .customLong("admin-token"), help: ArgumentHelp("Bearer token for /admin (or FLEETSIM_ADMIN_TOKEN). Default: generated and printed.", valueName: "token"))
    var adminToken: String?

    @Option(name: .long, help: ArgumentHelp("Processes sharing the port (SO_REUSEPORT) and the registry file: each holds up to ~19,000 connections.", valueName: "n"))
    var processes = "1"

    @Flag(name: .customLong("worker"), help: .hidden)
    var isWorker = false

    func run() throws {
        let config: ReferenceBackendConfiguration
        let processCount: Int
        do {
            (config, processCount) = try makeConfiguration()
        } catch let error as OptionParsing.InvalidOption {
            throw CLIFailure.input("fleetsim backend: \(error)")
        }
        try Self.serve(config: config, processes: processCount, isWorker: isWorker, command: self)
    }

    func makeConfiguration() throws -> (ReferenceBackendConfiguration, Int) {
        var c = ReferenceBackendConfiguration()
        c.host = listen
        guard let p = Int(port), (0...65535).contains(p) else {
            throw OptionParsing.InvalidOption(flag: "--port", message: "expected a port number 0…65535, got \"\(port)\"")
        }
        c.port = p
        if let db {
            guard !db.isEmpty else { throw OptionParsing.InvalidOption(flag: "--db", message: "expected a file path, got an empty string") }
            let dir = (db as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !dir.isEmpty, !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
                throw OptionParsing.InvalidOption(flag: "--db", message: "directory \"\(dir)\" does not exist")
            }
            c.databasePath = db
        }
        c.rows = try OptionParsing.count(rows, flag: "--rows", allowZero: true)
        do { c.lookup = try LookupPolicy(parsing: lookup) } catch {
            throw OptionParsing.InvalidOption(flag: "--lookup", message: "\(error)")
        }
        for b in block {
            do { c.blockedFirmware.append(try FirmwareRange(parsing: b)) } catch {
                throw OptionParsing.InvalidOption(flag: "--block", message: "\(error)")
            }
        }
        if let dbWorkers { c.databaseWorkers = try OptionParsing.count(dbWorkers, flag: "--db-workers") }
        if let eventLoops { c.eventLoopThreads = try OptionParsing.count(eventLoops, flag: "--event-loops") }
        let rate = try admissionRate.map { try OptionParsing.rate($0, flag: "--admission-rate") }
        let burst = try admissionBurst.map { try OptionParsing.count($0, flag: "--admission-burst") }
        if burst != nil && rate == nil {
            throw OptionParsing.InvalidOption(flag: "--admission-burst", message: "needs --admission-rate")
        }
        let pending = try maxPending.map { try OptionParsing.count($0, flag: "--max-pending") }
        c.admission = AdmissionLimits(connectRate: rate, burst: burst, maxPendingHandshakes: pending)
        c.memoryLimit = try memoryLimit.map { try OptionParsing.size($0, flag: "--memory-limit") }
        c.restartDelay = try OptionParsing.duration(restartDelay, flag: "--restart-delay")
        c.helloTimeout = try OptionParsing.duration(helloTimeout, flag: "--hello-timeout")
        c.requestTimeout = try OptionParsing.duration(requestTimeout, flag: "--request-timeout")
        c.lastSeenFlushInterval = try OptionParsing.duration(flushInterval, flag: "--flush-interval")
        if c.lastSeenFlushInterval.nanoseconds <= 0 {
            throw OptionParsing.InvalidOption(flag: "--flush-interval", message: "must be longer than 0s")
        }
        c.maxFrameSize = try OptionParsing.size(maxFrameSize, flag: "--max-frame-size")
        guard c.maxFrameSize >= 128, c.maxFrameSize <= 1 << 24 else {
            throw OptionParsing.InvalidOption(flag: "--max-frame-size", message: "expected 128B…16MiB, got \"\(maxFrameSize)\"")
        }
        let token = adminToken ?? ProcessInfo.processInfo.environment["FLEETSIM_ADMIN_TOKEN"]
        if let token, token.isEmpty || token.contains(where: { $0.isWhitespace }) {
            throw OptionParsing.InvalidOption(flag: "--admin-token", message: "expected a token without spaces")
        }
        c.adminToken = token
        let n = try OptionParsing.count(processes, flag: "--processes")
        guard n <= 64 else { throw OptionParsing.InvalidOption(flag: "--processes", message: "expected 1…64, got \(n)") }
        c.reusePort = n > 1 || isWorker
        c.sharesControls = n > 1 || isWorker
        c.publishesControlsAtStart = !isWorker
        return (c, n)
    }

    /// Runs the backend until SIGINT or SIGTERM, then shuts it down cleanly (every pending
    /// `last_seen` update written). With `processes > 1`, starts the others on the same port and file.
    static func serve(config: ReferenceBackendConfiguration, processes: Int, isWorker: Bool, command: BackendCommand) throws {
        var config = config
        var ownedDatabase: String?
        if processes > 1 && config.databasePath == nil {
            let path = NSTemporaryDirectory() + "fleetsim-backend-\(getpid()).sqlite"
            config.databasePath = path
            ownedDatabase = path
        }
        if config.adminToken == nil && processes > 1 {
            config.adminToken = (0..<2).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        }
        let backend = ReferenceBackend(configuration: config)
        let started = DispatchSemaphore(value: 0)
        let outcome = Box<Result<(String, Int), Error>>()
        Task {
            do { outcome.value = .success(try await backend.start()) } catch { outcome.value = .failure(error) }
            started.signal()
        }
        started.wait()
        let port: Int
        switch outcome.value! {
        case .failure(let error):
            throw CLIFailure(message: "fleetsim backend: cannot start on \(config.host):\(config.port): \(error)", code: 3)
        case .success(let (_, p)):
            port = p
        }

        var children: [Process] = []
        if processes > 1 {
            for _ in 1..<processes {
                let child = Process()
                let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
                child.executableURL = URL(fileURLWithPath: exe)
                child.arguments = workerArguments(command, port: port, db: config.databasePath!, token: config.adminToken!)
                do { try child.run() } catch {
                    FileHandle.standardError.write(Data("fleetsim backend: --processes: cannot start a worker process: \(error)\n".utf8))
                }
                children.append(child)
            }
        }

        if !isWorker {
            let r = backend.registry!
            let hostText = config.host.contains(":") ? "[\(config.host)]" : config.host
            print("fleetsim backend: listening on ws://\(hostText):\(port)/device  (http://\(hostText):\(port)/metrics, /healthz, /admin)")
            print("  registry: \(backend.databaseFile) (\(r.rows) rows, \(r.seeded ? String(format: "seeded in %.2f s", r.seedSeconds) : "reused"))\(config.databasePath == nil || ownedDatabase != nil ? ", removed at exit" : "")")
            print("  lookup: \(config.lookup)  block: \(config.blockedFirmware.isEmpty ? "none" : config.blockedFirmware.map(\.text).joined(separator: ", "))  admission: \(config.admission)")
            print("  memory limit: \(config.memoryLimit.map { "\($0 >> 20) MiB" } ?? "none")  db workers: \(config.databaseWorkers)  processes: \(processes)")
            print("  admin token: \(backend.adminToken)   (Authorization: Bearer TOKEN)")
            if let limit = config.memoryLimit, ProcessStats.anonymousBytes() >= limit {
                print("  warning: --memory-limit \(limit >> 20) MiB is below this process's memory at start (\(ProcessStats.anonymousBytes() >> 20) MiB): it will crash in a loop")
            }
            if !["127.0.0.1", "::1", "localhost"].contains(config.host) {
                print("  warning: listening on \(config.host), not loopback: reachable from other machines")
            }
            print("Ctrl-C stops it (pending last_seen updates are written first).")
            fflush(stdout)
        }

        let stop = DispatchSemaphore(value: 0)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.signal() }
            s.resume()
            return s
        }
        // A worker whose first process has gone (killed without a chance to stop it) stops too.
        var orphanCheck: DispatchSourceTimer?
        if isWorker {
            let parent = getppid()
            let timer = DispatchSource.makeTimerSource(queue: .global())
            timer.schedule(deadline: .now() + 1, repeating: 1)
            timer.setEventHandler { if getppid() != parent { stop.signal() } }
            timer.resume()
            orphanCheck = timer
        }
        stop.wait()
        orphanCheck?.cancel()
        _ = sources
        for child in children where child.isRunning { kill(child.processIdentifier, SIGTERM) }
        let stopped = DispatchSemaphore(value: 0)
        Task {
            try? await backend.shutdown()
            stopped.signal()
        }
        stopped.wait()
        for child in children { child.waitUntilExit() }
        if let ownedDatabase {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: ownedDatabase + suffix) }
        }
        if !isWorker { print("fleetsim backend: stopped") }
    }

    /// The arguments of a worker process: the same settings, on the port and file the first one opened.
    static func workerArguments(_ c: BackendCommand, port: Int, db: String, token: String) -> [String] {
        var a = ["backend", "--worker", "--processes", "1", "--listen", c.listen, "--port", String(port), "--db", db,
                 "--rows", c.rows, "--lookup", c.lookup, "--restart-delay", c.restartDelay, "--hello-timeout", c.helloTimeout,
                 "--request-timeout", c.requestTimeout, "--max-frame-size", c.maxFrameSize, "--flush-interval", c.flushInterval,
                 "--admin-token", token]
        for b in c.block { a += ["--block", b] }
        if let v = c.dbWorkers { a += ["--db-workers", v] }
        if let v = c.eventLoops { a += ["--event-loops", v] }
        if let v = c.admissionRate { a += ["--admission-rate", v] }
        if let v = c.admissionBurst { a += ["--admission-burst", v] }
        if let v = c.maxPending { a += ["--max-pending", v] }
        if let v = c.memoryLimit { a += ["--memory-limit", v] }
        return a
    }
}

private final class Box<T>: @unchecked Sendable {
    var value: T?
}
