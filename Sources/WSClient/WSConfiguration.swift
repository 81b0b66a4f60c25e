import NIOCore

/// Settings shared by every connection of a `WSClient`.
public struct WSConfiguration: Sendable {
    /// Deadline for the TCP connection.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// Deadline for the TLS handshake, counted from TCP connected.
    public var tlsTimeout: TimeAmount = .seconds(10)
    /// Deadline for the 101 response, counted from when the request was sent.
    public var upgradeTimeout: TimeAmount = .seconds(10)
    /// How long to wait for the server's Close and TCP close after a Close was sent (or received).
    public var closeTimeout: TimeAmount = .seconds(5)
    /// Largest message accepted (after decompression); larger ones close the connection with 1009.
    public var maxMessageSize: Int = 1 << 20
    /// When set, the client pings at this interval and fails with `timeout(pong)` when a pong does
    /// not come back within `pongTimeout`.
    public var pingInterval: TimeAmount? = nil
    /// Deadline for a pong after a heartbeat ping.
    public var pongTimeout: TimeAmount = .seconds(10)
    /// Subprotocols offered, in order of preference.
    public var subprotocols: [String] = []
    /// Extra upgrade request headers for every connection (e.g. `Authorization`). Values are
    /// never logged or reported by this module.
    public var headers: [(name: String, value: String)] = []
    /// Offer permessage-deflate when set.
    public var compression: WSCompression? = nil
    /// TLS settings for `wss://` endpoints.
    public var tls: WSTLSConfiguration = .init()
    /// Local source addresses to spread connections over (e.g. `127.0.0.2`…`127.0.0.9`), each
    /// bound with `IP_BIND_ADDRESS_NO_PORT` so that the kernel picks the port at connect time.
    /// Empty: the kernel picks the source address.
    public var sourceAddresses: [String] = []

    public init() {}

    /// `127.0.0.<first>` … `127.0.0.<last>`: a loopback source pool for local load tests.
    public static func loopbackSources(_ range: ClosedRange<Int>) -> [String] {
        range.map { "127.0.0.\($0)" }
    }
}

/// TLS settings. Certificates are always verified unless `insecure` is set explicitly.
public struct WSTLSConfiguration: Sendable {
    /// A PEM file of extra trusted CA certificates (in addition to the system roots).
    public var caFile: String? = nil
    /// Skip certificate and host name verification. For test rigs only; never the default.
    public var insecure: Bool = false
    /// Overrides the name used for SNI and certificate checks (default: the URL host).
    public var serverName: String? = nil

    public init() {}
}
