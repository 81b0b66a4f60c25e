import ArgumentParser
import DeviceModel
import Foundation
import ReferenceBackend

/// `fleetsim backend`'s flags: the user's way to build a `BackendLaunch` (a parent process hands
/// its children the value itself, with `--launch FILE`).
struct BackendOptions: ParsableArguments {
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

    @Option(name: .customLong("pending-memory"), help: ArgumentHelp("Memory each handshake holds while its lookup waits for the database (request context, result rows), returned when the query has run or expired: a pile-up of pending handshakes is what trips --memory-limit. Stated, not allocated: the guard adds it to the real anonymous memory, so that a reconnect wave is not slowed by how fast the machine zeroes pages. E.g. 2MiB. Default: 0.", valueName: "size"))
    var pendingMemory: String?

    @Option(name: .customLong("scan-cost"), help: ArgumentHelp("Stated cost of a lookup by scan: the database worker is held this long even when the real scan of the table is faster (a database of a stated capacity: --db-workers ÷ this, whatever the machine). A real scan slower than this is not shortened; it is counted and said at start and in /metrics. E.g. 40ms. Default: none (a scan takes what it takes).", valueName: "duration"))
    var scanCost: String?

    @Option(name: .customLong("indexed-cost"), help: ArgumentHelp("Stated cost of a lookup by index, as --scan-cost. Default: none.", valueName: "duration"))
    var indexedCost: String?

    @Option(name: .customLong("heartbeat-cost"), help: ArgumentHelp("Stated cost of one heartbeat's last_seen update: a batch of n updates holds its worker n times this, as --scan-cost. Default: none.", valueName: "duration"))
    var heartbeatCost: String?

    @Option(name: .customLong("queue-timeout"), help: ArgumentHelp("A lookup that waits longer than this for a database worker never runs and the device is closed with 1011 (a connection pool's acquire timeout). Default: none (lookups wait as long as it takes).", valueName: "duration"))
    var queueTimeout: String?

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

    /// The launch these flags describe (`OptionParsing.InvalidOption` names a flag that is wrong).
    func launch(stopWithParent: Bool) throws -> BackendLaunch {
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
        if let roster { c.roster = try OptionParsing.roster(roster, flag: "--roster") }
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
        c.admission = AdmissionPolicy(connectRate: rate, burst: burst, maxPending: pending, retryAfter: retryAfter)
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
        guard n <= BackendLaunch.maxProcesses else {
            throw OptionParsing.InvalidOption(flag: "--processes", message: "expected 1…\(BackendLaunch.maxProcesses), got \(n)")
        }
        return BackendLaunch(configuration: c, processes: n, endpointsFile: endpointsFile, stopWithParent: stopWithParent)
    }
}
