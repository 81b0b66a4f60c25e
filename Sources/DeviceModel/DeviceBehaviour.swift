/// What a device does, shared by every device of a profile (so it is not stored per device).
public struct DeviceBehaviour: Hashable, Sendable {
    /// Time between heartbeats once online.
    public var heartbeat: Nanoseconds
    /// How long the device waits for `welcome` after sending `hello`.
    public var handshakeTimeout: Nanoseconds
    /// How long the device waits for the `ack` of a heartbeat.
    public var ackTimeout: Nanoseconds
    /// How long the device waits for the transport (TCP, TLS, upgrade) to come up.
    public var connectTimeout: Nanoseconds
    public var reconnect: ReconnectPolicy

    public init(heartbeat: Nanoseconds, handshakeTimeout: Nanoseconds, ackTimeout: Nanoseconds,
                connectTimeout: Nanoseconds, reconnect: ReconnectPolicy) {
        self.heartbeat = heartbeat
        self.handshakeTimeout = handshakeTimeout
        self.ackTimeout = ackTimeout
        self.connectTimeout = connectTimeout
        self.reconnect = reconnect
    }
}

/// A message from the cloud, as far as the device's decisions go.
public enum Inbound: Hashable, Sendable {
    case welcome
    case ack(seq: UInt32)
    /// Refused: a close code (4003 blocked firmware, 1013 try again later, …) and the server's
    /// `Retry-After` when it sent one.
    case reject(code: UInt16, retryAfter: Nanoseconds?)
}

/// Why a transport went away.
public enum DownCause: UInt8, Hashable, Sendable {
    /// The connection attempt failed (refused, reset, HTTP error at upgrade).
    case connectFailed
    /// An established connection was lost (network, server crash, server close).
    case lost
}

/// Timers a device arms. One at a time: each state needs exactly one deadline.
public enum DeviceTimer: UInt8, Hashable, Sendable {
    case connect, handshake, heartbeat, ack, reconnect
}

/// What a device sends.
public enum Outbound: UInt8, Hashable, Sendable {
    case hello, heartbeat
}
