import DeviceModel
import LoadReport
import NIOCore
import WSClient

/// The live driver of one event loop's devices: their machines and connection state in
/// contiguous storage, one WSClient delegate for all of them, one timer wheel, and a recorder
/// that counts their events until the coordinator takes them (`handOver`).
///
/// Everything here runs on `loop` (WSClient calls its delegate there, the tick runs there, and
/// the coordinator reaches it with `loop.submit`), so nothing is locked. It turns the
/// `DeviceMachine`'s actions into WSClient calls, and transport outcomes into machine events
/// through `DeviceProtocol`, the one mapping every driver uses.
final class LoopDriver: WSConnectionDelegate, @unchecked Sendable {  // state confined to `loop`
    struct Slot {
        var machine: DeviceMachine
        /// The device's number in the fleet plan.
        var device: Int32
        var group: UInt16
        /// The current connection completed its upgrade.
        var upgraded = false
        /// Bumped at each connect and each close by this side: callbacks of older connections are ignored.
        var generation: UInt32 = 0
        /// Scenario time the current connect attempt began.
        var attemptStart: Nanoseconds = 0
        /// Scenario time this device lost an online session without deciding it, while it is not
        /// back online (its return is handed over with it, for mass disconnects); -1: none.
        var lostAt: Nanoseconds = -1
        /// Joined and still in its first connect attempt (`DriverCore.afterEvent`).
        var joining = false
    }

    enum TimerKind: UInt8 { case machine, join, sessionEnd }

    /// Stands in for a device's identity in messages that do not use it.
    private let anonymous = DeviceRoster.Entry(uuid: DeviceUUID(high: 0, low: 0), firmware: FirmwareVersion(major: 0))

    let loop: EventLoop
    let plan: FleetPlan
    private let client: WSClient
    private(set) var endpoint: WSEndpoint
    /// The endpoint without its address: what a connect finds while the name does not resolve
    /// (`dns-failure`), so that WSClient reports the failure as a resolver's, never touching the network.
    private let unresolved: WSEndpoint
    private let clock: LiveClock
    private let protocols: [DeviceProtocol]
    private let behaviours: [DeviceBehaviour]
    private var slots: [Slot]
    private var connections: [WSConnection?]
    private var wheel: TimerWheel
    private var due: [TimerWheel.Entry] = []
    /// The recorder and the device bookkeeping the simulation shares (`DriverCore`).
    private(set) var core: DriverCore
    var recorder: Recorder { core.recorder }
    private var tickTask: RepeatedTask?
    private(set) var stopping = false
    /// Sessions lost and devices back since the last hand-over: the run's recorder joins them
    /// over every loop into mass disconnects.
    private var losses: [Recorder.Loss] = []
    private var returns: [Recorder.Return] = []
    /// Connections open or opening.
    private(set) var openConnections = 0
    /// `dns-failure` in force: every connect attempt fails to resolve.
    private var dnsFailing = false
    /// Sessions lost and connects failed on this loop, by cause, since the run began.
    private(set) var causes = CauseCounts()

    init(loop: EventLoop, plan: FleetPlan, devices: [Int], client: WSClient, endpoint: WSEndpoint, clock: LiveClock,
         protocols: [DeviceProtocol], interval: Nanoseconds) {
        self.loop = loop
        self.plan = plan
        self.client = client
        self.endpoint = endpoint
        var unresolved = endpoint
        unresolved.address = nil
        self.unresolved = unresolved
        self.clock = clock
        self.protocols = protocols
        behaviours = plan.groups.map(\.behaviour)
        slots = devices.map { d in
            Slot(machine: DeviceMachine(random: plan.random(ofDevice: d)), device: Int32(d), group: UInt16(plan.group(ofDevice: d)))
        }
        connections = Array(repeating: nil, count: devices.count)
        wheel = TimerWheel(tick: LoopDriver.tick)
        core = DriverCore(plan: plan, interval: interval)
        core.recorder.handsOver = true
        // Joins: each device at its plan time; a warm group's devices spread over their first
        // heartbeat interval (a fleet in steady state does not connect in one instant).
        for i in slots.indices {
            let d = Int(slots[i].device)
            var at = plan.joinTime(ofDevice: d)
            let g = plan.groups[Int(slots[i].group)]
            if g.warm { at += Nanoseconds(plan.warmPhase(ofDevice: d) * Double(g.behaviour.heartbeat)) }
            wheel.arm(device: Int32(i), token: 0, kind: TimerKind.join.rawValue, at: clock.wall(scenario: at))
        }
    }

    /// The wheel's tick: how late a timer may fire, and how often an idle loop wakes. Each wake-up
    /// of a loop costs tens of microseconds of kernel time on these machines (Benchmarks/LiveRun),
    /// so 20 ms: a heartbeat or a deadline is at most 20 ms late on the wall clock (0.6 s of
    /// scenario time at `time_scale: 30`).
    static let tick: Int64 = 20_000_000

    /// Starts the tick (call on the loop).
    func start() {
        loop.assertInEventLoop()
        tickTask = loop.scheduleRepeatedTask(initialDelay: .nanoseconds(LoopDriver.tick), delay: .nanoseconds(LoopDriver.tick)) { [weak self] _ in
            self?.tick()
        }
    }

    private func tick() {
        guard !stopping else { return }
        let wallNow = clock.wall()
        due.removeAll(keepingCapacity: true)
        wheel.collect(dueBy: wallNow, into: &due)
        for entry in due {
            let i = Int(entry.device)
            let now = clock.scenario(wall: entry.deadline)
            switch TimerKind(rawValue: entry.kind)! {
            case .join:
                let g = Int(slots[i].group)
                guard core.join(group: g) else { continue }
                slots[i].joining = true
                apply(slots[i].machine.start(now: now, behaviour: behaviours[g]), i, now: now)
            case .machine:
                let g = Int(slots[i].group)
                let was = slots[i].machine.isOnline
                let actions = slots[i].machine.timerFired(token: entry.token, now: now, behaviour: behaviours[g])
                transitions(i, wasOnline: was, now: now, cause: "timeout.ack")
                apply(actions, i, now: now)
            case .sessionEnd:
                guard entry.token == slots[i].generation, slots[i].machine.isOnline else { continue }
                let actions = slots[i].machine.restart(now: now, behaviour: behaviours[Int(slots[i].group)])
                transitions(i, wasOnline: true, now: now, cause: "session.end")
                apply(actions, i, now: now)
            }
        }
    }

    // MARK: Actions → WSClient

    private func apply(_ actions: Actions, _ i: Int, now: Nanoseconds) {
        if slots[i].joining {
            var joining = true
            core.afterEvent(group: Int(slots[i].group), machine: slots[i].machine, joining: &joining)
            slots[i].joining = joining
        }
        if actions.close { closeTransport(i, abort: false) }
        switch actions.note {
        case .handshakeTimeout:
            core.recorder.handshakeTimeout()
            causes.failedConnect("timeout.handshake")
        case .ackTimeout: core.recorder.ackTimeout()
        default: break
        }
        if let send = actions.send, let c = connections[i] {
            let p = protocols[Int(slots[i].group)]
            switch send {
            case .hello:
                let id = plan.identity(ofDevice: Int(slots[i].device))
                c.send(text: p.helloText(uuid: id.uuid, firmware: id.firmware))
            case .heartbeat:
                // Most heartbeats name neither the device nor its firmware: look them up only if asked.
                let id = p.heartbeat.uses(.uuid) || p.heartbeat.uses(.firmware)
                    ? plan.identity(ofDevice: Int(slots[i].device)) : anonymous
                c.send(text: p.heartbeatText(uuid: id.uuid, firmware: id.firmware, seq: actions.seq))
            }
        }
        if actions.connect { connect(i, now: now) }
        if actions.timer != nil {
            wheel.arm(device: Int32(i), token: actions.timerToken, kind: TimerKind.machine.rawValue,
                      at: clock.wall(scenario: actions.timerAt))
        }
    }

    private func connect(_ i: Int, now: Nanoseconds) {
        guard !stopping else { return }
        slots[i].generation &+= 1
        slots[i].upgraded = false
        // The handshake is timed from when the connect really starts: a timer's `now` is its
        // deadline, and the wheel runs it up to a tick (20 ms, 1.2 s of scenario time at ×60) later.
        slots[i].attemptStart = max(now, clock.now())
        core.recorder.attempt(at: now)
        openConnections += 1
        let tag = i | Int(slots[i].generation) << 32
        connections[i] = client.connect(to: dnsFailing ? unresolved : endpoint, tag: tag, on: loop, delegate: self)
    }

    /// This side ends the transport: a Close frame, or (`abort`) the TCP connection at once.
    private func closeTransport(_ i: Int, abort: Bool) {
        guard let c = connections[i] else { return }
        connections[i] = nil
        slots[i].generation &+= 1
        openConnections -= 1
        if abort { c.abort() } else { c.close(code: 1000) }
    }

    /// Online transitions after a machine event, noted by `DriverCore`; a session the network
    /// ends goes on the wheel. `cause`: what ended the session, if it ended.
    private func transitions(_ i: Int, wasOnline: Bool, now: Nanoseconds, cause: @autoclosure () -> String) {
        let isOnline = slots[i].machine.isOnline
        guard wasOnline != isOnline else { return }
        let g = Int(slots[i].group)
        if isOnline {
            var (episode, joining): (UInt32, Bool) = (0, slots[i].joining)   // episodes: the run's recorder
            let end = core.wentOnline(device: Int(slots[i].device), group: g, session: slots[i].generation,
                                      episode: &episode, joining: &joining, now: now, handshake: now - slots[i].attemptStart)
            slots[i].joining = joining
            if slots[i].lostAt >= 0 {
                returns.append(Recorder.Return(lostAt: slots[i].lostAt, backAt: now))
                slots[i].lostAt = -1
            }
            if let end {
                wheel.arm(device: Int32(i), token: slots[i].generation, kind: TimerKind.sessionEnd.rawValue,
                          at: clock.wall(scenario: end))
            }
        } else {
            core.wentOffline(group: g)
            causes.disconnect(cause())
        }
    }

    // MARK: WSConnectionDelegate

    private func current(_ connection: WSConnection) -> Int? {
        let i = connection.tag & 0xFFFF_FFFF
        guard i < slots.count, UInt32(truncatingIfNeeded: connection.tag >> 32) == slots[i].generation,
              connections[i] != nil else { return nil }
        return i
    }

    func webSocketDidOpen(_ connection: WSConnection) {
        guard let i = current(connection) else { return }
        slots[i].upgraded = true
        let now = clock.now()
        apply(slots[i].machine.transportUp(now: now, behaviour: behaviours[Int(slots[i].group)]), i, now: now)
    }

    func webSocket(_ connection: WSConnection, didReceiveText text: String) {
        guard let i = current(connection) else { return }
        let g = Int(slots[i].group)
        guard let inbound = protocols[g].interpret(text, outstanding: slots[i].machine.seq) else { return }
        let now = clock.now()
        let was = slots[i].machine.isOnline
        if case .reject = inbound {
            core.recorder.rejected()
            if !was { causes.failedConnect("rejected") }
        }
        let actions = slots[i].machine.received(inbound, now: now, behaviour: behaviours[g])
        transitions(i, wasOnline: was, now: now, cause: "rejected")
        apply(actions, i, now: now)
    }

    func webSocket(_ connection: WSConnection, didCloseWith cause: WSCloseCause, timings: WSTimings) {
        guard let i = current(connection) else { return }
        connections[i] = nil
        openConnections -= 1
        let now = clock.now()
        let g = Int(slots[i].group)
        let outcome = Self.outcome(cause, timeScale: clock.timeScale)
        let input = DeviceProtocol.input(for: outcome, upgraded: slots[i].upgraded)
        if case .dns = cause { core.recorder.dnsFailure() }
        let was = slots[i].machine.isOnline
        let actions: Actions
        switch input {
        case .message(let inbound):
            core.recorder.rejected()
            actions = slots[i].machine.received(inbound, now: now, behaviour: behaviours[g])
        case .down(let down):
            // An HTTP status at upgrade is the backend refusing the device, whatever it means to the device.
            if case .http = outcome { core.recorder.rejected() }
            actions = slots[i].machine.transportDown(down, now: now, behaviour: behaviours[g])
        }
        if was && !slots[i].machine.isOnline { noteLost(i, now: now, cause: .lost) }
        if !was { causes.failedConnect(cause.label) }
        transitions(i, wasOnline: was, now: now, cause: cause.label)
        apply(actions, i, now: now)
    }

    /// WSClient's classified cause as a transport outcome (DeviceProtocol maps it to the machine).
    /// A Retry-After is wall time on the server's clock: × `timeScale` in scenario time (the
    /// embedded backend sends the scenario's Retry-After ÷ the time scale, rounded up to a second).
    static func outcome(_ cause: WSCloseCause, timeScale: Double) -> DeviceProtocol.TransportOutcome {
        switch cause {
        case .closed(let code, _): return .closed(code: code)
        case .http(let status, let retryAfter):
            let wall = DeviceProtocol.retryAfter(header: retryAfter)
            return .http(status: status, retryAfter: wall.map { Nanoseconds(Double($0) * timeScale) })
        case .dns, .refused, .tlsVerify, .tlsHandshake, .local, .timeout(.connect), .timeout(.tls), .timeout(.upgrade):
            return .failedBeforeUpgrade
        case .normal, .reset, .eof, .timeout, .protocolViolation, .other: return .lost
        }
    }

    // MARK: Mass disconnects

    /// An online device lost its session without deciding it: the run's recorder joins the losses
    /// of every loop into mass disconnects (`Recorder.absorb`), and the device's return says when
    /// it was back.
    private func noteLost(_ i: Int, now: Nanoseconds, cause: Recorder.LossCause) {
        slots[i].lostAt = now
        losses.append(Recorder.Loss(t: now, cause: cause))
    }

    // MARK: Timeline and control (on the loop)

    /// The network drops these sessions without a close handshake (`drop-sessions`).
    func dropSessions(fraction: Double, event: Int, now: Nanoseconds) -> Int {
        let (dropped, _) = core.sessionsToDrop(fraction: fraction, event: event, now: now, count: slots.count, episode: false) { i in
            (Int(slots[i].device), slots[i].machine.isOnline)
        }
        for i in dropped {
            noteLost(i, now: now, cause: .dropSessions)
            closeTransport(i, abort: true)
            let actions = slots[i].machine.transportDown(.lost, now: now, behaviour: behaviours[Int(slots[i].group)])
            transitions(i, wasOnline: true, now: now, cause: "dropped")
            apply(actions, i, now: now)
        }
        return dropped.count
    }

    /// `dns-failure` starts (or ends): connect attempts from now on fail to resolve; open sessions
    /// keep their address.
    func setDNSFailing(_ failing: Bool) { dnsFailing = failing }

    /// `remove-devices`: every device of the group leaves the fleet for good. Its connection is
    /// closed (a Close frame; the backend finishes what it has queued), its machine starts over
    /// idle (so its timers are stale) and it stops counting as eligible; devices not yet joined
    /// never join. Returns how many had joined.
    func removeGroup(_ g: Int) -> Int {
        let candidates = slots.indices.filter { Int(slots[$0].group) == g }
        return core.remove(group: g, candidates: candidates, joined: { slots[$0].machine.state != .idle }) { i in
            let left = (wasOnline: slots[i].machine.isOnline, joining: slots[i].joining)
            if left.wasOnline { causes.disconnect("removed") }
            closeTransport(i, abort: false)
            slots[i].generation &+= 1   // a session-end timer, a connection's late callback: stale
            slots[i].machine = DeviceMachine(random: slots[i].machine.random)
            slots[i].lostAt = -1
            slots[i].joining = false
            return left
        }
    }

    /// A `feature-failure` starts (replacing one of the same message, as in the model).
    func startFeatureFailure(owner: Int, message: String, groups: [FeatureFailure.Target], now: Nanoseconds) {
        core.startFeatureFailure(owner: owner, message: message, groups: groups, now: now)
    }

    /// The end of the `feature-failure` started by timeline event `owner`: its whole errors per
    /// entry of its groups on this loop, nil when a later one replaced it.
    func endFeatureFailure(owner: Int, now: Nanoseconds) -> [Int]? { core.endFeatureFailure(owner: owner, now: now) }

    /// Blocked groups leave this loop's eligible devices (the size of its mass disconnects).
    func setBlocked(group: Int, _ blocked: Bool) { core.recorder.setBlocked(group: group, blocked) }

    /// This loop's counts since the last interval boundary, `now`, for the run's one recorder.
    func handOver(at now: Nanoseconds) -> Recorder.Part {
        var part = core.handOver(at: now)
        part.losses = losses
        part.returns = returns
        losses.removeAll(keepingCapacity: true)
        returns.removeAll(keepingCapacity: true)
        return part
    }

    /// Counts of devices by state, for the progress display.
    func census() -> Census {
        var c = Census()
        for s in slots {
            switch s.machine.state {
            case .online, .awaitingAck: c.online += 1
            case .connecting, .handshaking: c.connecting += 1
            case .backoff: c.backingOff += 1
            case .gaveUp: c.gaveUp += 1
            case .idle: c.notJoined += 1
            }
        }
        return c
    }

    /// Stops every device: no more connects, a Close frame on every open connection.
    func stopAll() {
        stopping = true
        tickTask?.cancel()
        for i in connections.indices where connections[i] != nil { closeTransport(i, abort: false) }
    }
}

/// Devices by state.
struct Census: Sendable {
    var online = 0, connecting = 0, backingOff = 0, gaveUp = 0, notJoined = 0
    mutating func add(_ o: Census) {
        online += o.online; connecting += o.connecting; backingOff += o.backingOff; gaveUp += o.gaveUp; notJoined += o.notJoined
    }
}
