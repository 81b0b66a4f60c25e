import DeviceModel
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
#if canImport(Glibc)
import Glibc
#endif

/// The embedded cloud of DESIGN.md: a WebSocket device endpoint at `/device` over a real SQLite
/// registry, with `/metrics`, `/healthz` and `/admin` beside it.
///
/// ```swift
/// let backend = ReferenceBackend(configuration: config)
/// let (host, port) = try await backend.start()
/// …
/// try await backend.shutdown()   // flushes every pending last_seen update
/// ```
public final class ReferenceBackend: @unchecked Sendable {  // every mutable field is protected by `lock`
    public let configuration: ReferenceBackendConfiguration
    let core: BackendCore
    private let lock = NIOLock()
    private var group: MultiThreadedEventLoopGroup?
    private var serverChannel: Channel?
    private var controlChannel: Channel?
    private var boundPort: Int?
    private var boundControlPort: Int?
    private var timers: [RepeatedTask] = []
    private var state = LifeState.idle
    private var databasePath = ""
    private var ownsDatabaseFile = false

    private enum LifeState { case idle, running, stopped }

    /// What the registry looked like when the backend opened it.
    public private(set) var registry: DeviceRegistry.OpenResult?

    /// `logger` receives what the backend does not answer on a socket: start and stop, memory-guard
    /// crashes and restarts, and every error it recovers from (a failed `last_seen` write, a
    /// shared control it cannot read). It never receives a token.
    public init(configuration: ReferenceBackendConfiguration, logger: Logger = Logger(label: "fleetsim.backend")) {
        self.configuration = configuration
        core = BackendCore(configuration: configuration, logger: logger)
        core.restartHandler = { [weak self] down in self?.restart(countAsCrash: false, down: down) }
    }

    /// True between a successful `start()` and `shutdown()`.
    public var isRunning: Bool { lock.withLock { state == .running && boundPort != nil } }

    /// The token `/admin` requires.
    public var adminToken: String { core.adminToken }

    /// The loopback control port (`/metrics`, `/healthz`, `/admin`), once started with a
    /// `controlPort`; nil without one.
    public var controlPort: Int? { lock.withLock { boundControlPort } }

    /// The database file in use (once started).
    public var databaseFile: String { lock.withLock { databasePath } }

    /// Opens (or creates and seeds) the registry, starts the database workers and the event loops,
    /// and opens the listener. Returns the address it listens on.
    @discardableResult
    public func start() async throws -> (host: String, port: Int) {
        try lock.withLock {
            guard state == .idle else { throw BackendError.alreadyStarted }
            state = .running
        }
        let config = configuration
        let path: String
        if let p = config.databasePath {
            path = p
        } else {
            path = NSTemporaryDirectory() + "fleetsim-backend-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sqlite"
            ownsDatabaseFile = true
        }
        databasePath = path
        let opened: DeviceRegistry.OpenResult
        do {
            opened = try await Self.blocking { try DeviceRegistry.prepare(path: path, rows: config.rows, roster: config.roster) }
            // What this machine's database really costs now, before any device arrives: a
            // query slower than its stated cost is said at start, not found in the report later.
            let probe = try await Self.blocking { try DatabaseProbe.run(try RegistryConnection(path: path)) }
            core.metrics.probed(probe, rows: opened.rows)
            core.reportProbe(probe, rows: opened.rows)
            core.database = try DatabaseWorkerPool(path: path, workers: max(1, config.databaseWorkers),
                                                    queueTimeout: config.queueTimeout.map { UInt64(max(0, $0.nanoseconds)) })
        } catch {
            lock.withLock { state = .stopped }
            throw error
        }
        registry = opened

        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, config.eventLoopThreads))
        lock.withLock { self.group = group }
        let channel: Channel
        do {
            channel = try await bind(port: config.port).get()
        } catch {
            // Leave nothing running behind a failed start (the port is taken, say).
            lock.withLock { state = .stopped }
            let core = self.core
            await Self.blocking { core.database.shutdown() }
            try? await group.shutdownGracefully()
            if ownsDatabaseFile {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
            throw error
        }
        let port = channel.localAddress?.port ?? config.port
        lock.withLock {
            serverChannel = channel
            boundPort = port
        }
        if let controlPort = config.controlPort {
            do {
                let control = try await bindControl(port: controlPort).get()
                lock.withLock {
                    controlChannel = control
                    boundControlPort = control.localAddress?.port
                }
            } catch {
                lock.withLock { state = .stopped }
                try? await channel.close().get()
                let core = self.core
                await Self.blocking { core.database.shutdown() }
                try? await group.shutdownGracefully()
                throw error
            }
        }
        core.isListening = true
        if config.sharesControls {
            let core = self.core
            if config.publishesControlsAtStart {
                let values = SharedControls.encode(core)
                try await Self.blocking {
                    let connection = try RegistryConnection(path: path)
                    try SharedControls.publish(values, connection: connection)
                    core.pollControls(connection) // skip our own write on the first poll
                }
            } else {
                try await Self.blocking { core.pollControls(try RegistryConnection(path: path)) }
            }
        }
        startTimers(group: group)
        core.logger.info("listening", metadata: ["host": "\(config.host)", "port": "\(port)", "rows": "\(opened.rows)",
                                                 "database": "\(path)", "db_workers": "\(config.databaseWorkers)"])
        return (config.host, port)
    }

    /// Closes the listener and every connection (close 1001), lets queued database work finish,
    /// writes every pending `last_seen` update, and stops the threads.
    public func shutdown() async throws {
        let (group, server, control, timers) = lock.withLock { () -> (MultiThreadedEventLoopGroup?, Channel?, Channel?, [RepeatedTask]) in
            guard self.state == .running else { return (nil, nil, nil, []) }
            self.state = .stopped
            defer { self.timers = []; self.serverChannel = nil; self.controlChannel = nil }
            return (self.group, self.serverChannel, self.controlChannel, self.timers)
        }
        guard let group else { return }
        core.logger.info("shutting down: closing every connection, then writing pending last_seen updates")
        for t in timers { t.cancel() }
        core.isListening = false
        try? await server?.close().get()
        try? await control?.close().get()
        // Say goodbye to every device, then wait (briefly) for the sockets to close.
        let closes = core.trackedChannels.map { channel -> EventLoopFuture<Void> in
            channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
                var buffer = channel.allocator.buffer(capacity: 2)
                buffer.writeInteger(DeviceCloseCode.goingAway)
                let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
                // Connections that never upgraded have no frame encoder: just close them.
                let isWebSocket = (try? channel.pipeline.syncOperations.handler(type: DeviceSessionHandler.self)) != nil
                if isWebSocket { channel.writeAndFlush(frame, promise: nil) }
                return channel.close()
            }
        }
        _ = try? await EventLoopFuture.whenAllComplete(closes, on: group.next()).get()
        let core = self.core
        await Self.blocking {
            core.database.submit { core.flushLastSeen($0) }
            core.database.shutdown()
            // Anything recorded after the flush job ran (a heartbeat racing the close) is written now.
            if core.lastSeen.count > 0, let connection = try? RegistryConnection(path: self.databasePath) {
                core.flushLastSeen(connection)
            }
        }
        try await group.shutdownGracefully()
        if ownsDatabaseFile {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: databasePath + suffix) }
        }
    }

    // MARK: runtime controls (also reachable through /admin)

    public func block(_ range: FirmwareRange) { core.blockList.block(range) }
    public func unblock(_ range: FirmwareRange) { core.blockList.unblock(range) }
    public var blockedFirmware: [FirmwareRange] { core.blockList.current }
    public var lookupPolicy: LookupPolicy {
        get { core.lookupPolicy }
        set { core.lookupPolicy = newValue }
    }
    public var admissionLimits: AdmissionPolicy {
        get { core.admissionLimits }
        set { core.admissionLimits = newValue }
    }
    /// Drops every connection and reopens the listener after `down` (nil: the configured restart delay).
    public func restart(down: TimeAmount? = nil) { restart(countAsCrash: false, down: down) }

    /// Database workers now; settable at run time (work in flight finishes).
    public var databaseWorkers: Int { core.database?.workers ?? configuration.databaseWorkers }

    /// Changes the number of database workers (see `/admin/db-workers`).
    public func setDatabaseWorkers(_ count: Int) throws { try core.database.resize(to: count) }

    /// The `/metrics` text, without going through HTTP.
    public func metricsText() -> String { core.renderMetrics() }

    /// A few figures for tests and benchmarks.
    public struct Stats: Sendable {
        public var openConnections: Int
        public var pendingHandshakes: Int
        public var handshakes: [HandshakeOutcome: UInt64]
        public var rejects: [RejectCause: UInt64]
        public var heartbeats: UInt64
        public var crashes: UInt64
        public var restarts: UInt64
        public var databaseQueueLength: Int
        public var queryCounts: [String: UInt64]
        public var listening: Bool
    }

    public var stats: Stats {
        let s = core.metrics.snapshot
        return Stats(openConnections: s.openConnections, pendingHandshakes: s.pendingHandshakes, handshakes: s.handshakes,
                     rejects: s.rejects, heartbeats: s.heartbeats, crashes: s.crashes, restarts: s.restarts,
                     databaseQueueLength: core.database?.queueLength ?? 0,
                     queryCounts: s.queries.reduce(into: [:]) { $0[$1.key.rawValue] = $1.value.count },
                     listening: s.listening)
    }

    // MARK: the listener

    private func bind(port: Int) -> EventLoopFuture<Channel> {
        let group = lock.withLock { self.group! }
        let core = self.core
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        if configuration.reusePort {
            bootstrap = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_REUSEPORT)), value: 1)
        }
        return bootstrap
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ReferenceBackend.configureChild(channel, core: core)
                }
            }
            .bind(host: configuration.host, port: port)
    }

    /// The control listener: plain HTTP on loopback, `/metrics`, `/healthz` and `/admin` only. It stays
    /// open through crashes and restarts (they close the device listener), so that a process is
    /// still observable and controllable while it is "down". Its connections are not dropped by one.
    private func bindControl(port: Int) -> EventLoopFuture<Channel> {
        let group = lock.withLock { self.group! }
        let core = self.core
        return ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPRouteHandler(core: core, controlOnly: true))
                }
            }
            .bind(host: "127.0.0.1", port: port)
    }

    static func configureChild(_ channel: Channel, core: BackendCore) throws {
        core.track(channel)
        let routes = HTTPRouteHandler(core: core)
        // The upgrade decision runs on this channel's loop, where the route handler lives.
        let boundRoutes = NIOLoopBound(routes, eventLoop: channel.eventLoop)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: core.configuration.maxFrameSize,
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                    guard path == "/device" else { return nil }
                    // Firmware named at upgrade (header or query) is checked here: 403 before anything else.
                    if let text = ReferenceBackend.firmwareHint(head), let version = FirmwareVersion(text),
                       core.blockList.contains(version) {
                        core.metrics.handshake(.blocked)
                        boundRoutes.value.upgradeRejection = .blocked(firmware: text)
                        return nil
                    }
                    // The http-errors fault comes before admission control, as in the model.
                    if let fault = core.faults.refusesUpgrade() {
                        boundRoutes.value.upgradeRejection = .fault(status: fault.status,
                                                         retryAfter: fault.retryAfter.map(BackendCore.wholeSeconds))
                        return nil
                    }
                    if let rejection = core.admitUpgrade() {
                        core.metrics.handshake(.admission)
                        boundRoutes.value.upgradeRejection = rejection
                        return nil
                    }
                    return HTTPHeaders()
                }
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DeviceSessionHandler(core: core))
                }
            })
        let encoder = HTTPResponseEncoder()
        let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
        let errors = HTTPServerProtocolErrorHandler()
        let upgradeHandler = HTTPServerUpgradeHandler(
            upgraders: [upgrader], httpEncoder: encoder,
            extraHTTPHandlers: [decoder, errors, routes],
            upgradeCompletionHandler: { _ in })
        try channel.pipeline.syncOperations.addHandlers([encoder, decoder, errors, upgradeHandler, routes])
    }

    /// The firmware a device names in its upgrade request (`X-Firmware` header or `?firmware=`), if any.
    static func firmwareHint(_ head: HTTPRequestHead) -> String? {
        if let h = head.headers.first(name: "X-Firmware") ?? head.headers.first(name: "X-Device-Firmware") { return h }
        guard let q = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in q.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == "firmware" { return String(kv[1]).removingPercentEncoding ?? String(kv[1]) }
        }
        return nil
    }

    // MARK: timers: memory guard, last_seen flush, busy fraction

    private func startTimers(group: MultiThreadedEventLoopGroup) {
        let core = self.core
        let loop = group.next()
        var timers: [RepeatedTask] = []
        timers.append(loop.scheduleRepeatedTask(initialDelay: configuration.lastSeenFlushInterval,
                                                delay: configuration.lastSeenFlushInterval) { _ in
            if core.lastSeen.count > 0 { core.database.submit { core.flushLastSeen($0) } }
        })
        // The previous reading, touched only by this task on `loop`.
        let last = NIOLoopBoundBox.makeBoxSendingValue((busy: core.database.busySeconds, time: BackendCore.monotonicSeconds()),
                                                        eventLoop: loop)
        timers.append(loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let busy = core.database.busySeconds, now = BackendCore.monotonicSeconds()
            let previous = last.value
            core.busyFraction = min(1, (busy - previous.busy) / max(1e-9, (now - previous.time) * Double(core.database.workers)))
            last.value = (busy, now)
        })
        if configuration.sharesControls {
            timers.append(loop.scheduleRepeatedTask(initialDelay: configuration.controlsPollInterval,
                                                    delay: configuration.controlsPollInterval) { _ in
                core.database.submit { core.pollControls($0) }
            })
        }
        if let limit = configuration.memoryLimit {
            let reader = configuration.memoryReader ?? { ProcessStats.anonymousBytes() }
            timers.append(loop.scheduleRepeatedTask(initialDelay: configuration.memoryCheckInterval,
                                                    delay: configuration.memoryCheckInterval) { [weak self] _ in
                // Real memory, plus what the pending handshakes hold as stated (`PendingMemory`).
                guard let self, core.isListening, reader() + core.pendingMemory.heldBytes > limit else { return }
                self.restart(countAsCrash: true)
            })
        }
        lock.withLock { self.timers = timers }
    }

    /// Behaves like the 2020 backends running out of memory: every connection drops at once (no close
    /// frame), the listener closes, queued database work carries on for nobody, and after the restart
    /// delay the listener opens again on the same port. The process does not exit.
    private func restart(countAsCrash: Bool, down: TimeAmount? = nil) {
        let (server, group, port) = lock.withLock { () -> (Channel?, MultiThreadedEventLoopGroup?, Int?) in
            guard state == .running, let s = serverChannel else { return (nil, nil, nil) }
            serverChannel = nil
            return (s, self.group, boundPort)
        }
        guard let server, let group, let port else { return }
        if countAsCrash {
            core.logger.notice("memory guard: over the limit; every connection drops, the listener reopens after the restart delay",
                               metadata: ["connections": "\(core.trackedChannels.count)"])
        } else {
            core.logger.notice("restart: every connection drops", metadata: ["down": "\(down ?? configuration.restartDelay)"])
        }
        core.isListening = false
        if countAsCrash { core.metrics.crashed() }
        server.close(promise: nil)
        for channel in core.trackedChannels { channel.close(promise: nil) }
        if countAsCrash { core.pendingMemory.releaseAll() }
        #if canImport(Glibc)
        // A crashed process gives its memory back; ours must too, or the guard would trip again.
        group.next().scheduleTask(in: .milliseconds(50)) { _ = fleetsimMallocTrim(0) }
        #endif
        group.next().scheduleTask(in: down ?? configuration.restartDelay) { [weak self] in
            guard let self else { return }
            guard self.lock.withLock({ self.state == .running }) else { return }
            self.bind(port: port).whenComplete { result in
                switch result {
                case .success(let channel):
                    let keep = self.lock.withLock { () -> Bool in
                        guard self.state == .running else { return false }
                        self.serverChannel = channel
                        return true
                    }
                    if keep {
                        self.core.metrics.restarted()
                        self.core.isListening = true
                    } else {
                        channel.close(promise: nil)
                    }
                case .failure(let error):
                    // The port is taken (another process?): try again after another delay.
                    self.core.logger.warning("cannot reopen the device listener; trying again after the restart delay",
                                             metadata: ["port": "\(port)", "error": "\(error)"])
                    self.lock.withLock { self.serverChannel = server }
                    self.restart(countAsCrash: false)
                }
            }
        }
    }

    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    static func blocking(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { body(); continuation.resume() }
        }
    }
}

#if canImport(Glibc)
/// glibc's `malloc_trim`: returns freed heap pages to the system.
@_silgen_name("malloc_trim")
private func fleetsimMallocTrim(_ pad: Int) -> Int32
#endif

public enum BackendError: Error, CustomStringConvertible {
    case alreadyStarted
    public var description: String {
        switch self {
        case .alreadyStarted: return "the backend was already started"
        }
    }
}
