/// The client's `Sec-WebSocket-Key`, kept as 16 raw bytes (no heap string per connection).
struct HandshakeKey: Equatable {
    var high: UInt64
    var low: UInt64

    /// A random key plus a seed for the connection's masking keys.
    static func random() -> (key: HandshakeKey, maskSeed: UInt64) {
        var g = SystemRandomNumberGenerator()
        return (HandshakeKey(high: g.next(), low: g.next()), g.next())
    }

    var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    /// The value sent in `Sec-WebSocket-Key`.
    var encoded: String { Base64.encode(bytes) }

    /// The `Sec-WebSocket-Accept` value the server must answer (RFC 6455 §4.2.2).
    var expectedAccept: String { WSHandshake.accept(forKey: encoded) }
}

/// RFC 6455 handshake values, for servers and test peers.
public enum WSHandshake {
    /// The `Sec-WebSocket-Accept` value a server answers to a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
    public static func accept(forKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
    }
}
