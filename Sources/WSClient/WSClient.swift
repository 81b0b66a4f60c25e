import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// State shared (read-only) by all connections of one client.
final class WSClientCore: Sendable {
    let configuration: WSConfiguration
    let group: EventLoopGroup
    let template: HandshakeTemplate
    let sslContext: NIOSSLContext?
    /// Source addresses by family (an IPv4 source cannot reach an IPv6 target).
    let sources4: [SocketAddress]
    let sources6: [SocketAddress]
    let nextSource = NIOLockedValueBox<UInt>(0)

    init(configuration: WSConfiguration, group: EventLoopGroup, sslContext: NIOSSLContext?, sources: [SocketAddress]) {
        self.configuration = configuration
        self.group = group
        self.template = HandshakeTemplate(subprotocols: configuration.subprotocols, compression: configuration.compression,
                                          headers: configuration.headers.map { ($0.name, $0.value) })
        self.sslContext = sslContext
        self.sources4 = sources.filter { $0.protocol == .inet }
        self.sources6 = sources.filter { $0.protocol == .inet6 }
    }
}

/// A WebSocket client for fleets: one configuration, one event-loop group and one TLS context
/// shared by every connection. Each connection is a channel with a single handler, so tens of
/// thousands fit in one process (see `fileDescriptorBudget()` for how many this process may hold).
///
/// ```swift
/// let client = try WSClient(configuration: config)
/// let endpoint = try client.resolve(WSEndpoint(url: "ws://127.0.0.1:8080/device")).wait()
/// let connection = client.connect(to: endpoint, tag: deviceIndex, delegate: myDelegate)
/// connection.send(text: "{\"type\":\"hello\"}")
/// ```
public final class WSClient: Sendable {
    /// Errors from building a client.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
    }

    let core: WSClientCore
    private let tlsContext: NIOSSLContext?

    /// The configuration every connection uses.
    public var configuration: WSConfiguration { core.configuration }
    /// The event loops connections run on.
    public var eventLoopGroup: EventLoopGroup { core.group }

    /// Builds a client. Creates the TLS context once (system trust roots, plus `tls.caFile`, TLS 1.2
    /// minimum), so this may block briefly; don't call it on an event loop.
    public init(configuration: WSConfiguration = .init(),
                eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        for (name, value) in configuration.headers {
            let bad = { (s: String) in s.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) }
            guard !name.isEmpty, !bad(name), !bad(value), !name.contains(":") else {
                throw ConfigurationError(description: "invalid header name or value for header \"\(name)\"")
            }
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caFile = configuration.tls.caFile {
            tls.additionalTrustRoots = [.file(caFile)]
        }
        if configuration.tls.insecure {
            tls.certificateVerification = .none
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw ConfigurationError(description: "cannot build the TLS context: \(error)")
        }
        var sources: [SocketAddress] = []
        for s in configuration.sourceAddresses {
            do {
                sources.append(try SocketAddress(ipAddress: s, port: 0))
            } catch {
                throw ConfigurationError(description: "invalid source address \"\(s)\"")
            }
        }
        self.tlsContext = context
        self.core = WSClientCore(configuration: configuration, group: eventLoopGroup, sslContext: nil, sources: sources)
        self.secureCore = WSClientCore(configuration: configuration, group: eventLoopGroup, sslContext: context, sources: sources)
    }

    let secureCore: WSClientCore

    /// Resolves the endpoint's host (on NIO's blocking-I/O pool, never on an event loop) and
    /// returns it with `address` set. A failure is `WSCloseCause.dns`. IP literals need no DNS.
    public func resolve(_ endpoint: WSEndpoint) -> EventLoopFuture<WSEndpoint> {
        let loop = core.group.next()
        if endpoint.hostIsIPAddress {
            var e = endpoint
            e.address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port)
            return loop.makeSucceededFuture(e)
        }
        return NIOThreadPool.singleton.runIfActive(eventLoop: loop) {
            var e = endpoint
            do {
                e.address = try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port)
            } catch {
                throw WSResolveError(cause: .dns("\(endpoint.host): \(error)"))
            }
            return e
        }
    }

    /// Re-resolves `endpoint` every `interval` (first time immediately) and hands each result to
    /// `update` on an event loop: the caller swaps in the new address for later connects, and
    /// counts a `.dns` failure as such while keeping the last good address. Cancel the returned
    /// task to stop.
    @discardableResult
    public func resolveRepeatedly(_ endpoint: WSEndpoint, every interval: TimeAmount,
                                  update: @escaping @Sendable (Result<WSEndpoint, WSResolveError>) -> Void) -> RepeatedTask {
        let loop = core.group.next()
        return loop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: interval) { _ in
            self.resolve(endpoint).map { resolved in
                update(.success(resolved))
            }.flatMapErrorWithEventLoop { error, loop in
                update(.failure(error as? WSResolveError ?? WSResolveError(cause: .dns("\(error)"))))
                return loop.makeSucceededVoidFuture()
            }
        }
    }

    /// Opens a connection. Returns at once; the delegate hears `webSocketDidOpen` or, exactly
    /// once in every case, `didCloseWith` with a classified cause.
    ///
    /// - Parameters:
    ///   - endpoint: where to go; its `address` must be set (see `resolve`), else the connection
    ///     fails with `.dns`.
    ///   - tag: the caller's identifier for this connection, handed back in every callback.
    ///   - headers: extra request headers for this connection only.
    ///   - eventLoop: the loop to run on (default: the group's next). Pin a device's connections to
    ///     one loop to keep its state single-threaded.
    ///   - delegate: receives events on the connection's event loop.
    @discardableResult
    public func connect(to endpoint: WSEndpoint, tag: Int = 0, headers: [(name: String, value: String)] = [],
                        on eventLoop: EventLoop? = nil, delegate: WSConnectionDelegate) -> WSConnection {
        let core = endpoint.secure ? self.secureCore : self.core
        let loop = eventLoop ?? core.group.next()
        let (key, maskSeed) = HandshakeKey.random()
        var request = ByteBufferAllocator().buffer(capacity: 256)
        core.template.write(into: &request, path: endpoint.path, host: endpoint.hostHeader, key: key,
                            extraHeaders: headers.map { ($0.name, $0.value) })
        let handler = WSConnectionHandler(core: core, loop: loop, tag: tag, delegate: delegate, request: request, key: key, maskSeed: maskSeed)
        guard let address = endpoint.address else {
            loop.execute { handler.connectFailed(WSResolveError(cause: .dns("\(endpoint.host) is not resolved"))) }
            return handler.handle
        }
        // SNI and certificate name: the URL host unless overridden; none for an IP literal.
        let serverName: String? = {
            guard core.sslContext != nil else { return nil }
            if let name = core.configuration.tls.serverName { return name }
            return endpoint.hostIsIPAddress ? nil : endpoint.host
        }()
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(core.configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    if let ssl = core.sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let pool = address.protocol == .inet6 ? core.sources6 : core.sources4
        if !pool.isEmpty {
            let n = core.nextSource.withLockedValue { n -> UInt in
                n &+= 1
                return n
            }
            var source = pool[Int(n % UInt(pool.count))]
            source.port = 0
            bootstrap = bootstrap
                .channelOption(ChannelOptions.Types.SocketOption(level: SocketOptionLevel(IPPROTO_IP), name: 24 /* IP_BIND_ADDRESS_NO_PORT */), value: 1)
                .bind(to: source)
        }
        bootstrap.connect(to: address).whenFailure { error in
            handler.connectFailed(error)
        }
        return handler.handle
    }

    /// How many more sockets this process can open before hitting its file-descriptor limit.
    /// Check it before a large run: the limit here cannot be raised from inside the process.
    public static func fileDescriptorBudget() -> FileDescriptorBudget {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        var open = 0
        if let dir = opendir("/proc/self/fd") {
            while readdir(dir) != nil { open += 1 }
            closedir(dir)
            open = max(0, open - 3)  // ".", "..", and the directory's own descriptor
        }
        let soft = limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
        let hard = limit.rlim_max > rlim_t(Int.max) ? Int.max : Int(limit.rlim_max)
        return FileDescriptorBudget(softLimit: soft, hardLimit: hard, open: open)
    }
}

/// A DNS failure from `WSClient.resolve`.
public struct WSResolveError: Error, CustomStringConvertible {
    /// Always `.dns(…)`.
    public var cause: WSCloseCause
    public var description: String { cause.description }
}

/// The process's file-descriptor limit and use.
public struct FileDescriptorBudget: Sendable, CustomStringConvertible {
    /// RLIMIT_NOFILE soft limit: what this process may open.
    public var softLimit: Int
    /// RLIMIT_NOFILE hard limit: the most the soft limit could be raised to.
    public var hardLimit: Int
    /// Descriptors already open.
    public var open: Int

    /// Connections this process can still hold, keeping a small reserve for files and the loops.
    public var availableConnections: Int { max(0, softLimit - open - 32) }

    public var description: String {
        "file descriptors: limit \(softLimit) (hard \(hardLimit)), \(open) open: this process can hold at most \(availableConnections) more connections"
    }

    /// A clear explanation when `wanted` connections will not fit, else nil.
    public func shortfall(forConnections wanted: Int) -> String? {
        guard wanted > availableConnections else { return nil }
        return "\(wanted) connections requested but this process can hold at most \(availableConnections) (file-descriptor limit \(softLimit), hard limit \(hardLimit)); split the run into \((wanted + availableConnections - 1) / max(1, availableConnections)) processes (shards)"
    }
}
