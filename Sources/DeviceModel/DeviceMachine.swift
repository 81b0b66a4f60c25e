/// The brain of one device: events in, actions out, no I/O and no clock.
///
/// The simulation engine and the live runner are two drivers of this one machine (DESIGN.md):
/// neither re-implements a device decision. It is a plain value of 35 bytes, stored in a
/// contiguous array indexed by device number; its event methods allocate nothing.
///
/// A device has at most one timer armed at a time; each arm gets a fresh token, and a timer that
/// fires with a stale token is ignored, so drivers never need to cancel timers.
public struct DeviceMachine: Sendable {
    public enum State: UInt8, Sendable {
        /// Not started yet (not joined the fleet).
        case idle
        /// Opening the transport (TCP, TLS, WebSocket upgrade).
        case connecting
        /// `hello` sent, waiting for `welcome`.
        case handshaking
        /// Welcomed; the heartbeat timer is armed.
        case online
        /// A heartbeat is out, waiting for its `ack`.
        case awaitingAck
        /// Disconnected, waiting to retry.
        case backoff
        /// Ran out of attempts (`maxAttempts`): stays down.
        case gaveUp
    }

    // The stored properties are internal but usable from inlinable code, and read from outside
    // through the public accessors below: the engine inlines every event method into its loop
    // (a call per event, and the copies of the machine around it, cost more than the decision).
    // Widest first: 35 bytes with no hole, so a driver can pack its own small fields into the
    // 5 bytes of tail padding (the engine's device slot is one 64-byte cache line).
    public var random: SeededRandom
    @usableFromInline var previousDelay: Nanoseconds = 0
    @usableFromInline var _onlineSince: Nanoseconds = 0
    @usableFromInline var _timerToken: UInt32 = 0
    @usableFromInline var _seq: UInt32 = 0
    @usableFromInline var _attempt: UInt16 = 0
    @usableFromInline var _state: State = .idle

    @inlinable @inline(__always)
    public init(random: SeededRandom) {
        self.random = random
    }

    @inlinable @inline(__always) public var state: State { _state }
    /// Consecutive failed attempts since the last reset.
    @inlinable @inline(__always) public var attempt: UInt16 { _attempt }
    /// The token of the one armed timer.
    @inlinable @inline(__always) public var timerToken: UInt32 { _timerToken }
    /// Sequence number of the last heartbeat sent.
    @inlinable @inline(__always) public var seq: UInt32 { _seq }
    /// When the current session was welcomed.
    @inlinable @inline(__always) public var onlineSince: Nanoseconds { _onlineSince }

    /// True while the device holds a welcomed session.
    @inlinable @inline(__always)
    public var isOnline: Bool { _state == .online || _state == .awaitingAck }

    /// True while the device has a transport open or opening.
    @inlinable @inline(__always)
    public var hasTransport: Bool { _state == .connecting || _state == .handshaking || isOnline }

    /// The device joins the fleet: it connects.
    @inlinable @inline(__always)
    public mutating func start(now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        guard _state == .idle else { return Actions() }
        return beginConnect(now: now, behaviour: behaviour)
    }

    /// The device joins already online (a fleet in steady state at t = 0): its first heartbeat
    /// comes at a random phase within one interval, so a warm fleet does not beat in unison.
    @inlinable @inline(__always)
    public mutating func resume(now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        guard _state == .idle else { return Actions() }
        _state = .online
        _onlineSince = now
        var actions = Actions()
        actions.note = .online
        arm(.heartbeat, at: now + random.uniform(1, max(1, behaviour.heartbeat)), into: &actions)
        return actions
    }

    /// The transport is up: say hello and wait for the welcome.
    @inlinable @inline(__always)
    public mutating func transportUp(now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        guard _state == .connecting else { return Actions() }
        _state = .handshaking
        var actions = Actions()
        actions.send = .hello
        arm(.handshake, at: now + behaviour.handshakeTimeout, into: &actions)
        return actions
    }

    @inlinable @inline(__always)
    public mutating func received(_ message: Inbound, now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        switch message {
        case .welcome:
            guard _state == .handshaking else { return Actions() }
            _state = .online
            _onlineSince = now
            if behaviour.reconnect.resetAfter == nil { resetAttempts() }
            var actions = Actions()
            actions.note = .online
            arm(.heartbeat, at: now + behaviour.heartbeat, into: &actions)
            return actions
        case .ack(let acked):
            guard _state == .awaitingAck, acked == seq else { return Actions() }
            _state = .online
            var actions = Actions()
            arm(.heartbeat, at: now + behaviour.heartbeat, into: &actions)
            return actions
        case .reject(_, let retryAfter):
            guard hasTransport else { return Actions() }
            let wasOnline = isOnline
            var actions = fail(now: now, behaviour: behaviour, retryAfter: retryAfter)
            actions.close = true
            actions.note = wasOnline ? .lost : .rejected
            return actions
        }
    }

    @inlinable @inline(__always)
    public mutating func timerFired(token: UInt32, now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        guard token == timerToken else { return Actions() }
        switch _state {
        case .connecting:
            var actions = fail(now: now, behaviour: behaviour, retryAfter: nil)
            actions.close = true
            actions.note = .connectTimeout
            return actions
        case .handshaking:
            var actions = fail(now: now, behaviour: behaviour, retryAfter: nil)
            actions.close = true
            actions.note = .handshakeTimeout
            return actions
        case .online:
            _seq &+= 1
            _state = .awaitingAck
            var actions = Actions()
            actions.send = .heartbeat
            actions.seq = _seq
            arm(.ack, at: now + behaviour.ackTimeout, into: &actions)
            return actions
        case .awaitingAck:
            var actions = fail(now: now, behaviour: behaviour, retryAfter: nil)
            actions.close = true
            actions.note = .ackTimeout
            return actions
        case .backoff:
            return beginConnect(now: now, behaviour: behaviour)
        case .idle, .gaveUp:
            return Actions()
        }
    }

    /// The device power-cycles (or its session ends the way a reboot ends it): whatever it was
    /// doing, it starts afresh and connects at once, with its failure count cleared.
    @inlinable @inline(__always)
    public mutating func restart(now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        guard _state != .idle else { return Actions() }
        let wasOnline = isOnline
        resetAttempts()
        var actions = beginConnect(now: now, behaviour: behaviour)
        actions.close = true
        actions.note = wasOnline ? .lost : .none
        return actions
    }

    /// The transport went away (or never came up) without the device deciding it.
    @inlinable @inline(__always)
    public mutating func transportDown(_ cause: DownCause, now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        guard hasTransport else { return Actions() }
        let wasOnline = isOnline
        var actions = fail(now: now, behaviour: behaviour, retryAfter: nil)
        actions.note = wasOnline ? .lost : .connectFailed
        return actions
    }

    // MARK: - Internals

    @inlinable @inline(__always)
    mutating func beginConnect(now: Nanoseconds, behaviour: DeviceBehaviour) -> Actions {
        _state = .connecting
        var actions = Actions()
        actions.connect = true
        arm(.connect, at: now + behaviour.connectTimeout, into: &actions)
        return actions
    }

    /// Leave the current attempt or session and schedule the next attempt.
    @inlinable @inline(__always)
    mutating func fail(now: Nanoseconds, behaviour: DeviceBehaviour, retryAfter: Nanoseconds?) -> Actions {
        let policy = behaviour.reconnect
        if isOnline, let stable = policy.resetAfter, now - _onlineSince >= stable { resetAttempts() }
        var actions = Actions()
        if let maxAttempts = policy.maxAttempts, Int(_attempt) >= maxAttempts {
            _state = .gaveUp
            _timerToken &+= 1
            actions.gaveUp = true
            return actions
        }
        var delay = policy.delay(attempt: Int(_attempt), previous: previousDelay, random: &random)
        previousDelay = delay
        if policy.honourRetryAfter, let retryAfter, retryAfter > delay { delay = retryAfter }
        if _attempt < UInt16.max { _attempt += 1 }
        _state = .backoff
        arm(.reconnect, at: now + delay, into: &actions)
        return actions
    }

    @inlinable @inline(__always)
    mutating func resetAttempts() {
        _attempt = 0
        previousDelay = 0
    }

    @inlinable @inline(__always)
    mutating func arm(_ timer: DeviceTimer, at time: Nanoseconds, into actions: inout Actions) {
        _timerToken &+= 1
        actions.timer = timer
        actions.timerAt = time
        actions.timerToken = _timerToken
    }
}

/// What a device wants done after an event: a small fixed-size value, never an array.
public struct Actions: Sendable, Equatable {
    /// Notable outcomes, for the driver's metrics.
    public enum Note: UInt8, Sendable {
        case none, online, lost, connectFailed, rejected, connectTimeout, handshakeTimeout, ackTimeout
    }

    /// Open a transport.
    public var connect = false
    /// Close the current transport (sent before anything else in this value).
    public var close = false
    /// Send a message.
    public var send: Outbound?
    /// The heartbeat's sequence number when `send == .heartbeat`.
    public var seq: UInt32 = 0
    /// Arm this timer (replacing whichever was armed).
    public var timer: DeviceTimer?
    public var timerAt: Nanoseconds = 0
    public var timerToken: UInt32 = 0
    public var note: Note = .none
    /// The device ran out of attempts and stays down.
    public var gaveUp = false

    @inlinable public init() {}
}
