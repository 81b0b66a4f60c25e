import ArgumentParser
import DeviceModel
import Dispatch
import Foundation
import Logging
import ReferenceBackend
import ServiceLifecycle

/// `fleetsim backend`: the reference backend on its own (argument parsing and wiring only).
struct BackendCommand: AsyncParsableCommand, LoggingCommand {
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
              fleetsim backend --listen 127.0.0.1:8080 --roster fleet.csv --rows 64000
              fleetsim backend --rows 64000 --lookup 'scan:>=3.8.0-b3' --memory-limit 2GiB --restart-delay 1m30s
              fleetsim backend --block '>=3.8.0-b3' --admission-rate 200 --max-pending 100 --admission-retry-after 30s
              fleetsim backend --processes 4 --endpoints-file backend.json
              curl -H "Authorization: Bearer $TOKEN" -d '>=3.8.0-b3' http://127.0.0.1:8080/admin/block

            Admin routes (all need 'Authorization: Bearer TOKEN'): GET /admin (state); POST /admin/block, \
            /admin/unblock (body: a firmware range, or 'all'), /admin/lookup (body: a strategy), \
            /admin/admission (body: 'off' or 'rate=200 burst=400 max-pending=100 retry-after=30s'), \
            /admin/restart (drop every connection and keep the device listener closed for --restart-delay, \
            or for the body's 'down=30s'), /admin/db-workers (body: N, this process's database workers from \
            now on; running queries finish), /admin/fault (body: 'http-errors fraction=0.3 status=503 \
            retry-after=30s', 'latency add=2s', 'db-errors fraction=0.5', 'KIND off' or 'off': faults on until \
            turned off, counted in /metrics).

            With --processes N, the processes share the port and the registry file: block, lookup, \
            admission and fault changes made through /admin reach all of them within half a second; /admin/restart \
            and /admin/db-workers act on the process that answered, and /metrics describes it \
            (fleetsim_backend_process_info names it). To reach one process on purpose, each also serves \
            /metrics, /healthz and /admin on a loopback control port of its own, open even while its device \
            listener is down. --endpoints-file PATH (with any number of processes) writes, once every \
            process is up, {"device_url": "ws://127.0.0.1:PORT/device", "admin_token": "…", "processes": \
            [{"index": 0, "pid": 123, "control_url": "http://127.0.0.1:P0"}, …]}, mode 0600, removed at exit.

            SIGINT or SIGTERM stops the backend cleanly (every pending last_seen update written, exit 0); \
            a second one ends it at once (exit 130).
            """)

    @Option(name: .long, help: ArgumentHelp("Address to listen on: HOST, HOST:PORT or [IPV6]:PORT. Loopback unless you name another.", valueName: "address"))
    var listen = "127.0.0.1"

    @Option(name: .long, help: ArgumentHelp("Port to listen on (0: any free port). Default: 8080, or the port --listen names.", valueName: "port"))
    var port: String?

    @Option(name: .customLong("endpoints-file"), help: ArgumentHelp("Once every process is up, write JSON here naming the device URL, the admin token and each process's pid and loopback control URL (/metrics, /healthz, /admin of that process alone). Removed at exit.", valueName: "path"))
    var endpointsFile: String?

    @Option(name: .long, help: ArgumentHelp("Registry file: reused when it exists, created and seeded when not. Default: a temporary file removed at exit.", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("Devices seeded into a new registry, e.g. 100000 or 1M.", valueName: "n"))
    var rows = "100000"

    @Option(name: .long, help: ArgumentHelp("A fleet's devices (CSV of uuid,firmware lines, optional header) seeded first into a new registry, so the fleet's lookups hit; --rows filler rows in total follow, with UUIDs no fleet uses.", valueName: "file"))
    var roster: String?

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

    @Option(name: .customLong("admission-retry-after"), help: ArgumentHelp("Admission control: the Retry-After given to refused devices (503 header, close 1013 reason). Default: the time until the next token (at least 1s) for the rate, 1s for --max-pending.", valueName: "duration"))
    var admissionRetryAfter: String?

    @Option(name: .customLong("max-pending"), help: ArgumentHelp("Admission control: handshakes waiting for the database beyond which new ones get 503 or close 1013. Default: off.", valueName: "n"))
    var maxPending: String?

    @Option(name: .customLong("memory-limit"), help: ArgumentHelp("Anonymous resident memory (heap, not the mapped registry file) past which the backend 'crashes' like the 2020 backends: drops every connection, counts a crash and reopens after --restart-delay. E.g. 2GiB. Default: none.", valueName: "size"))
    var memoryLimit: String?

    @Option(name: .customLong("pending-memory"), help: ArgumentHelp("Memory each handshake holds while its lookup waits for the database (request context, result rows), returned when the query has run or expired: a pile-up of pending handshakes is what trips --memory-limit. E.g. 2MiB. Default: 0.", valueName: "size"))
    var pendingMemory: String?

    @Option(name: .customLong("queue-timeout"), help: ArgumentHelp("A lookup that waits longer than this for a database worker never runs and the device is closed with 1011 (a connection pool's acquire timeout). Default: none (lookups wait as long as it takes).", valueName: "duration"))
    var queueTimeout: String?

    @Option(name: .customLong("scan-cost"), help: ArgumentHelp("Stated cost of a lookup by scan: the database worker is held this long even when the real scan of the table is faster (a database of a stated capacity: --db-workers ÷ this, whatever the machine). A real scan slower than this is not shortened; it is counted and said at start and in /metrics. E.g. 80ms. Default: none (a scan takes what it takes).", valueName: "duration"))
    var scanCost: String?

    @Option(name: .customLong("indexed-cost"), help: ArgumentHelp("Stated cost of a lookup by index, as --scan-cost. Default: none.", valueName: "duration"))
    var indexedCost: String?

    @Option(name: .customLong("heartbeat-cost"), help: ArgumentHelp("Stated cost of one heartbeat's last_seen update: a batch of n updates holds its worker n times this, as --scan-cost. Default: none.", valueName: "duration"))
    var heartbeatCost: String?

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

    @Option(name: .customLong("worker-index"), help: .hidden)
    var workerIndex = 0

    /// Set by `fleetsim run` for its embedded backend: stop when the process that started this
    /// one is gone (killed with no chance to stop its children), as worker processes do.
    @Flag(name: .customLong("stop-with-parent"), help: .hidden)
    var stopWithParent = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let config: ReferenceBackendConfiguration
        let processCount: Int
        do {
            (config, processCount) = try makeConfiguration()
        } catch let error as OptionParsing.InvalidOption {
            throw CLIFailure.input("fleetsim backend: \(error)")
        }
        try await Self.serve(config: config, processes: processCount, isWorker: isWorker, command: self)
    }

    func makeConfiguration() throws -> (ReferenceBackendConfiguration, Int) {
        var c = ReferenceBackendConfiguration()
        let address = try OptionParsing.listenAddress(listen, flag: "--listen")
        c.host = address.host
        var chosen = address.port ?? 8080
        if let port {
            guard let p = Int(port), (0...65535).contains(p) else {
                throw OptionParsing.InvalidOption(flag: "--port", message: "expected a port number 0…65535, got \"\(port)\"")
            }
            if let named = address.port, named != p {
                throw OptionParsing.InvalidOption(flag: "--listen", message: "names port \(named) but --port says \(p): give the port once")
            }
            chosen = p
        }
        c.port = chosen
        if let endpointsFile {
            let dir = (endpointsFile as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if endpointsFile.isEmpty || (!dir.isEmpty && !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue)) {
                throw OptionParsing.InvalidOption(flag: "--endpoints-file", message: endpointsFile.isEmpty ? "expected a file path, got an empty string" : "directory \"\(dir)\" does not exist")
            }
        }
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
        if let roster { c.roster = try Self.readRoster(roster) }
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
        let burst = try admissionBurst.map { Double(try OptionParsing.count($0, flag: "--admission-burst")) }
        if burst != nil && rate == nil {
            throw OptionParsing.InvalidOption(flag: "--admission-burst", message: "needs --admission-rate")
        }
        if let rate, rate < 1, burst == nil {
            // The default burst is one second's worth of the rate (as in the simulation): below 1/s
            // the bucket would never hold a whole token.
            throw OptionParsing.InvalidOption(flag: "--admission-rate", message: "below 1/s needs --admission-burst (the default burst, one second's worth, holds no whole token)")
        }
        let pending = try maxPending.map { try OptionParsing.count($0, flag: "--max-pending") }
        let retryAfter = try admissionRetryAfter.map { try OptionParsing.duration($0, flag: "--admission-retry-after").nanoseconds }
        if retryAfter != nil && rate == nil && pending == nil {
            throw OptionParsing.InvalidOption(flag: "--admission-retry-after", message: "needs --admission-rate or --max-pending")
        }
        c.admission = AdmissionLimits(connectRate: rate, burst: burst, maxPendingHandshakes: pending, retryAfter: retryAfter)
        c.memoryLimit = try memoryLimit.map { try OptionParsing.size($0, flag: "--memory-limit") }
        c.pendingMemory = try pendingMemory.map { try OptionParsing.size($0, flag: "--pending-memory") } ?? 0
        c.queueTimeout = try queueTimeout.map { try OptionParsing.duration($0, flag: "--queue-timeout") }
        c.statedCosts = StatedQueryCosts(
            scan: try scanCost.map { try OptionParsing.duration($0, flag: "--scan-cost") },
            indexed: try indexedCost.map { try OptionParsing.duration($0, flag: "--indexed-cost") },
            heartbeat: try heartbeatCost.map { try OptionParsing.duration($0, flag: "--heartbeat-cost") })
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
        // Each process of several, or one whose endpoints are written down, is reachable on its own.
        if n > 1 || isWorker || endpointsFile != nil { c.controlPort = 0 }
        return (c, n)
    }

    /// The devices of `--roster FILE`; errors name the flag and the file's line and column.
    static func readRoster(_ path: String) throws -> [DeviceRoster.Entry] {
        let entries: [DeviceRoster.Entry]
        do { entries = try DeviceRoster(contentsOf: path).entries } catch let error as DeviceRoster.ParseError {
            throw OptionParsing.InvalidOption(flag: "--roster", message: "\(error)")
        }
        guard !entries.isEmpty else {
            throw OptionParsing.InvalidOption(flag: "--roster", message: "\(path):1:1: no devices (expected uuid,firmware lines)")
        }
        var seen = Set<DeviceUUID>()
        for entry in entries where !seen.insert(entry.uuid).inserted {
            // The registry's uuid index is unique: find the second line naming it for the message.
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let needle = entry.uuid.description
            var line = 0, count = 0, column = 1
            for (n, l) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" }).enumerated() {
                if let r = l.lowercased().range(of: needle) {
                    count += 1
                    if count == 2 { line = n + 1; column = l.lowercased().distance(from: l.lowercased().startIndex, to: r.lowerBound) + 1; break }
                }
            }
            throw OptionParsing.InvalidOption(flag: "--roster", message: "\(path):\(max(line, 1)):\(column): device \(needle) is listed twice")
        }
        return entries
    }

    /// One process of the backend, as the endpoints file names it.
    struct ProcessEndpoint: Sendable {
        var index: Int
        var pid: Int32
        var controlPort: Int
    }

    /// Runs the backend until SIGINT or SIGTERM, then shuts it down cleanly (every pending
    /// `last_seen` update written); a second signal ends the process at once (status 130). With
    /// `processes > 1`, starts the others on the same port and file. The backend runs as a service
    /// of a `ServiceGroup` (`Lifecycle`), beside the watch for a vanished parent when there is one.
    static func serve(config: ReferenceBackendConfiguration, processes: Int, isWorker: Bool, command: BackendCommand) async throws {
        // Before anything slow (seeding can take seconds): the first signal asks for a stop from here on.
        // A worker gets Ctrl-C with its process group and then SIGTERM from the first process: it
        // takes neither as "now"; it stops once, cleanly (or when the first process has gone).
        let latch = Lifecycle.watchSignals { _, _ in if !isWorker { _exit(130) } }
        let logger = Logger(label: isWorker ? "fleetsim.backend.\(command.workerIndex)" : "fleetsim.backend")
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
        let backend = ReferenceBackend(configuration: config, logger: logger)
        let port: Int
        do {
            port = try await backend.start().port
        } catch {
            if let ownedDatabase { removeDatabase(ownedDatabase) }
            throw CLIFailure(message: "fleetsim backend: cannot start on \(config.host):\(config.port): \(error)", code: 3)
        }
        let hostText = config.host.contains(":") ? "[\(config.host)]" : config.host

        if isWorker {
            // The first process reads this line to learn where this one is controlled.
            print("control \(command.workerIndex) \(getpid()) \(backend.controlPort ?? 0)")
            fflush(nil)
        }

        var children: [Process] = []
        var endpoints: [ProcessEndpoint] = []
        if let control = backend.controlPort { endpoints.append(ProcessEndpoint(index: 0, pid: getpid(), controlPort: control)) }
        var startFailure: String?
        if processes > 1 {
            var reports: [WorkerReport] = []
            for index in 1..<processes {
                let child = Process()
                let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
                child.executableURL = URL(fileURLWithPath: exe)
                child.arguments = workerArguments(command, host: config.host, port: port, db: config.databasePath!,
                                                  token: config.adminToken!, index: index)
                let out = Pipe()
                child.standardOutput = out
                do { try child.run() } catch {
                    startFailure = "cannot start worker process \(index): \(error)"
                    break
                }
                children.append(child)
                reports.append(WorkerReport(index: index, pipe: out))
            }
            // Every process is healthy once it reports: it has opened its device and control listeners.
            for report in reports where startFailure == nil {
                switch await report.endpoint(within: 120) {
                case .some(let endpoint): endpoints.append(endpoint)
                case .none: startFailure = "worker process \(report.index) did not start (see its error above)"
                }
            }
        }
        let endpointsPath = isWorker ? nil : command.endpointsFile
        if startFailure == nil, let endpointsPath {
            do {
                try writeEndpoints(endpointsPath, deviceURL: "ws://\(connectHost(config.host)):\(port)/device",
                                   token: backend.adminToken, processes: endpoints)
            } catch {
                startFailure = "--endpoints-file: cannot write \(endpointsPath): \(error.localizedDescription)"
            }
        }

        if !isWorker && startFailure == nil {
            let r = backend.registry!
            print("fleetsim backend: listening on ws://\(hostText):\(port)/device  (http://\(hostText):\(port)/metrics, /healthz, /admin)")
            let rosterNote = config.roster.map { ", \($0.count) from the roster" } ?? ""
            print("  registry: \(backend.databaseFile) (\(r.rows) rows\(r.seeded ? rosterNote : ""), \(r.seeded ? String(format: "seeded in %.2f s", r.seedSeconds) : "reused")\(r.seeded || config.roster == nil ? "" : "; --roster ignored"))\(config.databasePath == nil || ownedDatabase != nil ? ", removed at exit" : "")")
            print("  lookup: \(config.lookup)  block: \(config.blockedFirmware.isEmpty ? "none" : config.blockedFirmware.map(\.text).joined(separator: ", "))  admission: \(config.admission)")
            print("  memory limit: \(config.memoryLimit.map { "\($0 >> 20) MiB" } ?? "none")  db workers: \(config.databaseWorkers)  processes: \(processes)")
            // With an endpoints file (a program started this backend), the token is there, not in its log.
            print("  admin token: " + (endpointsPath == nil ? "\(backend.adminToken)   (Authorization: Bearer TOKEN)" : "in the endpoints file"))
            if !endpoints.isEmpty {
                print("  control: " + endpoints.map { "#\($0.index) pid \($0.pid) http://127.0.0.1:\($0.controlPort)" }.joined(separator: ", "))
            }
            if let endpointsPath { print("  endpoints: \(endpointsPath)") }
            if let limit = config.memoryLimit, ProcessStats.anonymousBytes() >= limit {
                print("  warning: --memory-limit \(limit >> 20) MiB is below this process's memory at start (\(ProcessStats.anonymousBytes() >> 20) MiB): it will crash in a loop")
            }
            if !["127.0.0.1", "::1", "localhost"].contains(config.host) {
                print("  warning: listening on \(config.host), not loopback: reachable from other machines")
            }
            print("Ctrl-C stops it (pending last_seen updates are written first).")
            fflush(nil)
        }

        var services: [any Service] = [ReferenceBackendService(backend)]
        // A worker whose first process has gone (killed without a chance to stop it) stops too.
        if isWorker || command.stopWithParent { services.append(ParentWatch(parent: getppid())) }
        if startFailure == nil {
            do { try await Lifecycle.run(services, until: latch, logger: logger) } catch { startFailure = "\(error)" }
        }
        try? await backend.shutdown()   // nothing left to do when the group has shut it down
        if let endpointsPath, startFailure == nil { try? FileManager.default.removeItem(atPath: endpointsPath) }
        for child in children where child.isRunning { kill(child.processIdentifier, SIGTERM) }
        for child in children { await Self.waitForExit(of: child) }
        if let ownedDatabase { removeDatabase(ownedDatabase) }
        if let startFailure { throw CLIFailure(message: "fleetsim backend: \(startFailure)", code: 3) }
        if !isWorker { print("fleetsim backend: stopped") }
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

    static func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// The host a client on this machine connects to: a wildcard address means loopback.
    static func connectHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": return "127.0.0.1"
        case "::", "[::]": return "[::1]"
        default: return host.contains(":") ? "[\(host)]" : host
        }
    }

    /// The endpoints file (written to a temporary name, then renamed: a reader never sees half of it;
    /// mode 0600: it holds the admin token).
    static func writeEndpoints(_ path: String, deviceURL: String, token: String, processes: [ProcessEndpoint]) throws {
        let object: [String: Any] = [
            "device_url": deviceURL,
            "admin_token": token,
            "processes": processes.sorted { $0.index < $1.index }.map {
                ["index": $0.index, "pid": Int($0.pid), "control_url": "http://127.0.0.1:\($0.controlPort)"] as [String: Any]
            },
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data + Data("\n".utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CocoaError(.fileWriteUnknown)
        }
    }

    /// The arguments of a worker process: the same settings, on the port and file the first one opened.
    static func workerArguments(_ c: BackendCommand, host: String, port: Int, db: String, token: String, index: Int) -> [String] {
        var a = ["backend", "--worker", "--worker-index", String(index), "--processes", "1",
                 "--listen", host.contains(":") ? "[\(host)]" : host, "--port", String(port), "--db", db,
                 "--rows", c.rows, "--lookup", c.lookup, "--restart-delay", c.restartDelay, "--hello-timeout", c.helloTimeout,
                 "--request-timeout", c.requestTimeout, "--max-frame-size", c.maxFrameSize, "--flush-interval", c.flushInterval,
                 "--admin-token", token, "--log-level", c.logging.level.rawValue]
        for b in c.block { a += ["--block", b] }
        if let v = c.dbWorkers { a += ["--db-workers", v] }
        if let v = c.eventLoops { a += ["--event-loops", v] }
        if let v = c.admissionRate { a += ["--admission-rate", v] }
        if let v = c.admissionBurst { a += ["--admission-burst", v] }
        if let v = c.maxPending { a += ["--max-pending", v] }
        if let v = c.admissionRetryAfter { a += ["--admission-retry-after", v] }
        if let v = c.memoryLimit { a += ["--memory-limit", v] }
        if let v = c.pendingMemory { a += ["--pending-memory", v] }
        if let v = c.queueTimeout { a += ["--queue-timeout", v] }
        if let v = c.scanCost { a += ["--scan-cost", v] }
        if let v = c.indexedCost { a += ["--indexed-cost", v] }
        if let v = c.heartbeatCost { a += ["--heartbeat-cost", v] }
        return a
    }
}

/// Returns (which shuts the group down) when the process that started this one has gone: a
/// worker, or a backend started by `fleetsim run`, never outlives its parent.
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
    private var result: BackendCommand.ProcessEndpoint??
    private var waiter: CheckedContinuation<BackendCommand.ProcessEndpoint?, Never>?

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
                self.finish(BackendCommand.ProcessEndpoint(index: i, pid: pid, controlPort: port))
            } else {
                self.finish(nil)
            }
            // Keep draining: a worker that writes more must never block on a full pipe.
            while !pipe.fileHandleForReading.availableData.isEmpty {}
        }
        thread.start()
    }

    /// The first answer wins: the worker's line (or nil: it exited without one), or the deadline.
    private func finish(_ endpoint: BackendCommand.ProcessEndpoint?) {
        let waiting = lock.withLock { () -> CheckedContinuation<BackendCommand.ProcessEndpoint?, Never>? in
            guard result == nil else { return nil }
            result = .some(endpoint)
            defer { waiter = nil }
            return waiter
        }
        waiting?.resume(returning: endpoint)
    }

    /// The worker's control endpoint once it reports, or nil when it did not within `seconds`.
    func endpoint(within seconds: Int) async -> BackendCommand.ProcessEndpoint? {
        let deadline = Task { [self] in
            try? await Task.sleep(for: .seconds(seconds))
            finish(nil)
        }
        defer { deadline.cancel() }
        return await withCheckedContinuation { continuation in
            let done = lock.withLock { () -> BackendCommand.ProcessEndpoint?? in
                if let result { return .some(result) }
                waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}
