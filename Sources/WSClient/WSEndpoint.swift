import NIOCore

/// A WebSocket URL split into what a connection needs, plus the address it resolved to. Resolve
/// once (or on a schedule) and reuse: `connect` never resolves DNS itself.
public struct WSEndpoint: Sendable, Hashable {
    /// Errors in the URL itself.
    public struct InvalidURL: Error, CustomStringConvertible {
        public var description: String
    }

    /// True for `wss://`.
    public var secure: Bool
    /// Host name or IP literal, without brackets.
    public var host: String
    /// The URL port, or 80 / 443 by scheme.
    public var port: Int
    /// Path and query, starting with "/".
    public var path: String
    /// The address connections go to; set by `WSClient.resolve` or by hand.
    public var address: SocketAddress?

    /// Parses `ws://host[:port]/path?query` or `wss://…`.
    public init(url: String) throws {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("ws://") {
            secure = false
            rest = url.dropFirst(5)
        } else if lower.hasPrefix("wss://") {
            secure = true
            rest = url.dropFirst(6)
        } else {
            throw InvalidURL(description: "expected a ws:// or wss:// URL, got \"\(url)\"")
        }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        if path.isEmpty || path.first == "?" { path = "/" + path }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host: Substring
        var portText: Substring? = nil
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw InvalidURL(description: "unclosed IPv6 literal in \"\(url)\"") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.first == ":" { portText = after.dropFirst() }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw InvalidURL(description: "missing host in \"\(url)\"") }
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw InvalidURL(description: "invalid port in \"\(url)\"") }
            port = p
        } else {
            port = secure ? 443 : 80
        }
        self.host = String(host)
        self.path = path
        self.address = try? SocketAddress(ipAddress: String(host), port: port)
    }

    /// True when `host` is an IP literal (no DNS needed, no SNI possible).
    public var hostIsIPAddress: Bool { (try? SocketAddress(ipAddress: host, port: port)) != nil }

    /// The `Host` header value (RFC 6455 §4.1: port only when not the default).
    var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? h : "\(h):\(port)"
    }
}
