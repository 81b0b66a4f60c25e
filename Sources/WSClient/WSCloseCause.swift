/// Why a connection ended (or never opened). Every connection ends with exactly one cause, so a
/// live run can count failures by kind without parsing error strings.
public enum WSCloseCause: Hashable, Sendable, CustomStringConvertible {
    /// The phase whose deadline expired.
    public enum Phase: String, Hashable, Sendable {
        case connect, tls, upgrade, pong, close
    }

    /// A local resource ran out before the connection could be made.
    public enum LocalResource: String, Hashable, Sendable {
        /// The process hit its file-descriptor limit (EMFILE/ENFILE).
        case fd
        /// No ephemeral port was free for the source address (EADDRNOTAVAIL).
        case ports
    }

    /// This side closed the connection and the close handshake completed (or the socket closed
    /// after our Close frame).
    case normal
    /// The host name could not be resolved.
    case dns(String)
    /// The server refused the TCP connection.
    case refused
    /// A deadline expired: TCP connect, TLS handshake, HTTP upgrade, pong or close handshake.
    case timeout(Phase)
    /// The server's certificate was rejected (unknown issuer, wrong host name, expired…).
    case tlsVerify(String)
    /// The TLS handshake failed for another reason.
    case tlsHandshake(String)
    /// The server answered the upgrade with a status other than 101. `retryAfter` is the raw
    /// `Retry-After` header value, if any.
    case http(status: Int, retryAfter: String?)
    /// The peer violated RFC 6455 / RFC 7692, or sent a message this client refuses (too big,
    /// invalid UTF-8). The client sent the matching Close code (1002, 1007 or 1009).
    case protocolViolation(String)
    /// The peer started the close handshake with this code and reason.
    case closed(code: UInt16, reason: String)
    /// The TCP connection was reset or broken (ECONNRESET, EPIPE…) without a close handshake.
    case reset
    /// The peer closed TCP without a close handshake.
    case eof
    /// A local resource was exhausted.
    case local(LocalResource)
    /// Anything else, with the error's description.
    case other(String)

    public var description: String {
        switch self {
        case .normal: return "normal"
        case .dns(let m): return "dns(\(m))"
        case .refused: return "refused"
        case .timeout(let p): return "timeout(\(p.rawValue))"
        case .tlsVerify(let m): return "tls(verify: \(m))"
        case .tlsHandshake(let m): return "tls(handshake: \(m))"
        case .http(let s, let r): return r.map { "http(\(s), retry-after: \($0))" } ?? "http(\(s))"
        case .protocolViolation(let m): return "protocol(\(m))"
        case .closed(let c, let r): return r.isEmpty ? "closed(\(c))" : "closed(\(c), \(r))"
        case .reset: return "reset"
        case .eof: return "eof"
        case .local(let r): return "local(\(r.rawValue))"
        case .other(let m): return "other(\(m))"
        }
    }

    /// A short stable label for metrics (`timeout.connect`, `http.503`, `closed.1013`…).
    public var label: String {
        switch self {
        case .normal: return "normal"
        case .dns: return "dns"
        case .refused: return "refused"
        case .timeout(let p): return "timeout.\(p.rawValue)"
        case .tlsVerify: return "tls.verify"
        case .tlsHandshake: return "tls.handshake"
        case .http(let s, _): return "http.\(s)"
        case .protocolViolation: return "protocol"
        case .closed(let c, _): return "closed.\(c)"
        case .reset: return "reset"
        case .eof: return "eof"
        case .local(let r): return "local.\(r.rawValue)"
        case .other: return "other"
        }
    }
}
