import NIOCore

/// Monotonic timestamps of one connection's milestones. Stored as raw uptime nanoseconds
/// (0 = not reached) to keep per-connection state small.
public struct WSTimings: Sendable, Equatable {
    var startNanos: UInt64 = 0
    var tcpConnectedNanos: UInt64 = 0
    var tlsDoneNanos: UInt64 = 0
    var upgradedNanos: UInt64 = 0
    var firstMessageNanos: UInt64 = 0

    private static func deadline(_ n: UInt64) -> NIODeadline? { n == 0 ? nil : .uptimeNanoseconds(n) }

    /// When `connect` was called.
    public var started: NIODeadline? { Self.deadline(startNanos) }
    /// When the TCP connection was established.
    public var tcpConnected: NIODeadline? { Self.deadline(tcpConnectedNanos) }
    /// When the TLS handshake completed (`wss://` only).
    public var tlsDone: NIODeadline? { Self.deadline(tlsDoneNanos) }
    /// When the 101 response was accepted: the connection is open.
    public var upgraded: NIODeadline? { Self.deadline(upgradedNanos) }
    /// When the first complete message arrived.
    public var firstMessage: NIODeadline? { Self.deadline(firstMessageNanos) }

    /// Time from `connect` to an open WebSocket, if it opened.
    public var handshakeDuration: TimeAmount? {
        guard startNanos != 0, upgradedNanos != 0 else { return nil }
        return .nanoseconds(Int64(upgradedNanos &- startNanos))
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}
