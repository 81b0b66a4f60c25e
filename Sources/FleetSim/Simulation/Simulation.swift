import CFleetSimSupport
import DeviceModel
import Foundation
import LoadReport

/// The discrete-event simulation of a fleet against the backend model.
///
/// Virtual time is integer nanoseconds; events are processed in (time, insertion order), so a
/// scenario and a seed give the same run bit for bit. Devices are `DeviceMachine` values in
/// contiguous storage; the engine turns their actions into modelled backend work (DESIGN.md).
public struct Simulation {
    public let scenario: Scenario

    // MARK: Devices

    struct GroupRuntime {
        var name: String
        var firmware: FirmwareVersion
        var behaviour: DeviceBehaviour
        var lookupCost: Nanoseconds
        var warm: Bool
        /// Its firmware is on the block list: a hello is refused before any database work.
        var blocked = false
    }

    enum Kind: UInt8 {
        // Joins are not queued: `JoinSchedule` hands them out in order.
        case timer, transportResult, lookupDone, lookupRefused, welcome, reject, linkDrop
        case gatewayUp, timeline, sample
        /// The end of the fault started by the timeline event `device`.
        case faultEnd
    }

    /// Who is in the fleet (shared with the live runner and the backend's seeding).
    public let plan: FleetPlan
    /// Owns the device array; `devices` is its buffer, used directly on the hot path.
    private let storage: DeviceStorage
    let devices: UnsafeMutableBufferPointer<DeviceSlot>
    private let behaviours: UnsafeMutableBufferPointer<DeviceBehaviour>
    private let heartbeatCost: Nanoseconds
    private let groupStore: FixedArray<GroupRuntime>
    let groups: UnsafeMutableBufferPointer<GroupRuntime>
    let queue = EventQueue()
    private var joins = JoinSchedule()
    /// Gateways, load balancer, admission and faults beside the database (`BackendModel`).
    var backend: BackendModel
    private let gateways: UnsafeMutableBufferPointer<GatewayModel>
    /// What the timeline's actions mean (the live runner asks the same interpreter).
    var interpreter: TimelineInterpreter
    private let latency: Nanoseconds
    private let seed: UInt64
    var now: Nanoseconds = 0

    // MARK: Measurements

    /// The recorder (counters, series, episodes, milestones: what the report is built from) and
    /// the device bookkeeping around the machine that the live loops share.
    var core: DriverCore
    public private(set) var eventsProcessed: UInt64 = 0

    /// Builds the fleet and the backend model. The scenario must be valid (`ScenarioLoader`).
    public init(scenario: Scenario) {
        self.scenario = scenario
        self.seed = scenario.seed
        self.latency = scenario.network.latency
        let intervals = Int((scenario.duration + scenario.interval - 1) / scenario.interval)
        let db = scenario.backend.database
        backend = BackendModel(scenario.backend, interval: scenario.interval, intervals: intervals)
        gateways = backend.gateways

        let plan = FleetPlan(scenario: scenario)
        self.plan = plan
        core = DriverCore(plan: plan, interval: scenario.interval)
        interpreter = TimelineInterpreter(scenario: scenario, plan: plan)
        let groups = plan.groups.map { g in
            GroupRuntime(name: g.name, firmware: g.firmware, behaviour: g.behaviour,
                         lookupCost: g.lookup == .scan ? Nanoseconds(db.rows) * db.scanCostPerRow : db.indexedCost,
                         warm: g.warm)
        }
        groupStore = FixedArray(groups)
        self.groups = groupStore.items

        // Every device of the run, including those the timeline adds, exists from the start.
        let storage = DeviceStorage(devices: plan.deviceCount, groups: groups.map(\.behaviour))
        let buffer = storage.devices
        self.storage = storage
        devices = buffer
        behaviours = storage.behaviours
        heartbeatCost = db.heartbeatCost
        for cohort in plan.cohorts {
            for d in cohort.first..<(cohort.first + cohort.count) {
                (buffer.baseAddress! + d).initialize(to: DeviceSlot(machine: DeviceMachine(random: plan.random(ofDevice: d)),
                                                                     group: UInt16(cohort.group)))
            }
            joins.add(cohort)
        }
        // Timeline events at t = 0 come before the joins at t = 0 (`joinGoesFirst`).
        for (i, event) in scenario.timeline.enumerated() {
            queue.push(time: event.at, kind: Kind.timeline.rawValue, device: i)
        }
        for k in 1...max(1, intervals) {
            queue.push(time: min(scenario.duration, Nanoseconds(k) * scenario.interval), kind: Kind.sample.rawValue, device: k - 1)
        }
    }


    // MARK: - Running

    /// Runs to the end of the scenario (or until `shouldStop` says so at an interval boundary)
    /// and returns the report. `progress` is called at every interval with the fraction done.
    public mutating func run(progress: ((_ fraction: Double, _ onlineFraction: Double) -> Void)? = nil,
                    shouldStop: (() -> Bool)? = nil) -> Report {
        let wallStart = DispatchTime.now().uptimeNanoseconds
        var interrupted = false
        while true {
            if !joins.isEmpty && joinGoesFirst() {
                if joins.nextTime > scenario.duration { break }
                now = joins.nextTime
                eventsProcessed &+= 1
                let d = joins.nextDevice
                joins.advance()
                onJoin(d)
                continue
            }
            guard let event = queue.pop(), event.time <= scenario.duration else { break }
            now = event.time
            eventsProcessed &+= 1
            if let ahead = queue.upcoming(3) { fleetsim_prefetch(devices.baseAddress! + ahead.device) }
            switch Kind(rawValue: event.kind)! {
            case .timer: onTimer(event)
            case .transportResult: onTransportResult(event)
            case .lookupDone: onLookupDone(event)
            case .lookupRefused: onLookupRefused(event)
            case .welcome: onWelcome(event)
            case .reject: onReject(event)
            case .linkDrop: onLinkDrop(event)
            case .gatewayUp: backend.start(event.device)
            case .timeline: applyTimeline(event.device)
            case .faultEnd: endFault(event.device)
            case .sample:
                core.closeInterval(at: now, backend: backend.sample(interval: event.device, now: now))
                progress?(Double(now) / Double(scenario.duration), core.recorder.onlineFraction)
                if shouldStop?() == true {
                    interrupted = true
                }
            }
            if interrupted { break }
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9
        var report = makeReport(wallSeconds: wall)
        if interrupted { report.incomplete = "interrupted at t=\(Time.seconds(now))s" }
        return report
    }

    /// Whether the next join comes before the queue's next event. Joins rank as if queued at
    /// the start right after the timeline events at t = 0: before anything else at the same time.
    private func joinGoesFirst() -> Bool {
        guard let head = queue.peek(notAfterBucketOf: joins.nextTime) else { return true }
        if joins.nextTime != head.time { return joins.nextTime < head.time }
        return !(head.time == 0 && head.kind == Kind.timeline.rawValue)
    }

    // MARK: - Event handlers

    @inline(__always)
    private func behaviour(_ d: Int) -> DeviceBehaviour { behaviours[Int(devices[d].group)] }

    @inline(__always)
    private func current(_ event: SimEvent) -> Bool {
        devices[event.device].connection & 0xFF_FFFF == event.token
    }

    private mutating func onJoin(_ d: Int) {
        let g = Int(devices[d].group)
        guard core.join(group: g) else { return }
        devices[d].joining = true
        if groups[g].warm && !groups[g].blocked, let gw = backend.pickGateway() {
            attach(d, gateway: gw)
            let actions = devices[d].machine.resume(now: now, behaviour: groups[g].behaviour)
            wentOnline(d, handshake: nil)
            perform(actions, device: d)
            checkMemory(gw)
        } else {
            perform(devices[d].machine.start(now: now, behaviour: groups[g].behaviour), device: d)
        }
    }

    @inline(__always)
    private mutating func onTimer(_ event: SimEvent) {
        let d = event.device
        let wasOnline = devices[d].machine.isOnline
        let actions = devices[d].machine.timerFired(token: event.aux, now: now, behaviour: behaviour(d))
        if wasOnline && !devices[d].machine.isOnline { wentOffline(d) }
        perform(actions, device: d)
    }

    private mutating func onTransportResult(_ event: SimEvent) {
        let d = event.device
        guard current(event), devices[d].link == .connecting else { return }
        if backend.faults.dnsFailing {
            // The name does not resolve: the attempt never reaches the backend.
            devices[d].link = .none
            core.recorder.dnsFailure()
            perform(devices[d].machine.transportDown(.connectFailed, now: now, behaviour: behaviour(d)), device: d)
            return
        }
        guard let gw = backend.pickGateway() else {
            devices[d].link = .none
            perform(devices[d].machine.transportDown(.connectFailed, now: now, behaviour: behaviour(d)), device: d)
            return
        }
        if backend.faults.httpFraction > 0,
           FaultState.draw(seed: seed, device: d, number: devices[d].connection, salt: 0x44, fraction: backend.faults.httpFraction) {
            // The upgrade is answered with a 5xx: what that means to the device is the protocol's
            // one mapping (503 with Retry-After: try again later; 500: a failed connect).
            devices[d].link = .none
            core.recorder.rejected()
            let outcome = DeviceProtocol.TransportOutcome.http(status: backend.faults.httpStatus, retryAfter: backend.faults.httpRetryAfter)
            switch DeviceProtocol.input(for: outcome, upgraded: false) {
            case .message(let message):
                perform(devices[d].machine.received(message, now: now, behaviour: behaviour(d)), device: d)
            case .down(let cause):
                perform(devices[d].machine.transportDown(cause, now: now, behaviour: behaviour(d)), device: d)
            }
            return
        }
        if let retryAfter = backend.refusal(at: gw, now: now) {
            devices[d].link = .none
            core.recorder.rejected()
            let actions = devices[d].machine.received(.reject(code: DeviceCloseCode.tryAgainLater, retryAfter: retryAfter),
                                                      now: now, behaviour: behaviour(d))
            perform(actions, device: d)
            return
        }
        attach(d, gateway: gw)
        if !checkMemory(gw) { return }
        perform(devices[d].machine.transportUp(now: now, behaviour: behaviour(d)), device: d)
    }

    private mutating func onLookupDone(_ event: SimEvent) {
        let gw = Int(event.aux >> 16)
        if gateways[gw].generation & 0xFFFF == event.aux & 0xFFFF { gateways[gw].pending -= 1 }
        let d = event.device
        guard current(event), devices[d].link == .attached else { return }
        queue.push(time: now + latency, kind: Kind.welcome.rawValue, device: d, token: event.token)
    }

    private mutating func onLookupRefused(_ event: SimEvent) {
        let gw = Int(event.aux >> 16)
        if gateways[gw].generation & 0xFFFF == event.aux & 0xFFFF { gateways[gw].pending -= 1 }
        let d = event.device
        guard current(event), devices[d].link == .attached else { return }
        // The gateway gives up on the pool and closes with 1011 (internal error).
        queue.push(time: now + latency, kind: Kind.reject.rawValue, device: d, token: event.token,
                   aux: UInt32(DeviceCloseCode.internalError))
    }

    private mutating func onWelcome(_ event: SimEvent) {
        let d = event.device
        guard current(event), devices[d].link == .attached else { return }
        let actions = devices[d].machine.received(.welcome, now: now, behaviour: behaviour(d))
        if devices[d].machine.isOnline {
            let latencyNs = Nanoseconds(DeviceSlot.microseconds(now) &- devices[d].attemptStartUs) * Time.microsecond
            wentOnline(d, handshake: latencyNs)
        }
        perform(actions, device: d)
    }

    private mutating func onReject(_ event: SimEvent) {
        let d = event.device
        guard current(event), devices[d].link == .attached else { return }
        let wasOnline = devices[d].machine.isOnline
        core.recorder.rejected()
        let actions = devices[d].machine.received(.reject(code: UInt16(event.aux), retryAfter: nil),
                                                  now: now, behaviour: behaviour(d))
        if wasOnline && !devices[d].machine.isOnline { wentOffline(d) }
        perform(actions, device: d)
    }

    /// The session ends the way a power cycle ends it: the device connects again at once.
    private mutating func onLinkDrop(_ event: SimEvent) {
        let d = event.device
        guard current(event), devices[d].link == .attached else { return }
        let wasOnline = devices[d].machine.isOnline
        let actions = devices[d].machine.restart(now: now, behaviour: behaviour(d))
        if wasOnline { wentOffline(d) }
        perform(actions, device: d)
    }

    // MARK: - Actions

    @inline(__always)
    private mutating func perform(_ actions: Actions, device d: Int) {
        if devices[d].joining {
            core.afterEvent(group: Int(devices[d].group), machine: devices[d].machine, joining: &devices[d].joining)
        }
        if actions.close { detach(d) }
        switch actions.note {
        case .handshakeTimeout: core.recorder.handshakeTimeout()
        case .ackTimeout: core.recorder.ackTimeout()
        default: break
        }
        // When the reply to what the device sends (or its transport) is already scheduled to
        // arrive before the timer would fire, the timer is provably dead: every path that
        // delivers or discards that reply re-arms the device's one timer first. Skipping it
        // saves an event per heartbeat and per handshake step without changing the run.
        var replyAt = Nanoseconds.max
        if let send = actions.send {
            switch send {
            case .heartbeat: replyAt = sendHeartbeat(d, seq: actions.seq)
            case .hello: replyAt = sendHello(d)
            }
        }
        if actions.connect { replyAt = connect(d) }
        guard actions.timer != nil else { return }
        if replyAt >= actions.timerAt {
            queue.push(time: actions.timerAt, kind: Kind.timer.rawValue, device: d, aux: actions.timerToken)
        } else if actions.send == .heartbeat {
            // The ack's arrival time is known and before the deadline, and nothing the device can
            // meet until then (a drop, a crash, a close) treats "awaiting the ack" differently
            // from "online": deliver it now, stamped with its arrival time, instead of queueing
            // an event. Same run, one event fewer per heartbeat; only the order among events
            // due at the very same nanosecond can differ from queueing it.
            perform(devices[d].machine.received(.ack(seq: actions.seq), now: replyAt, behaviour: behaviour(d)), device: d)
        }
    }

    /// Opens a transport; returns when its outcome reaches the device.
    private mutating func connect(_ d: Int) -> Nanoseconds {
        devices[d].connection &+= 1
        devices[d].link = .connecting
        devices[d].attemptStartUs = DeviceSlot.microseconds(now)
        core.recorder.attempt(at: now)
        // TCP handshake and WebSocket upgrade: two round trips.
        let result = now + 4 * latency
        queue.push(time: result, kind: Kind.transportResult.rawValue, device: d, token: devices[d].connection)
        return result
    }

    /// Sends hello; returns when the answer reaches the device (max: no answer is coming).
    private mutating func sendHello(_ d: Int) -> Nanoseconds {
        let g = Int(devices[d].group)
        let token = devices[d].connection
        if groups[g].blocked {
            // Blocked firmware: refused with close 4003 before any database work.
            queue.push(time: now + 2 * latency, kind: Kind.reject.rawValue, device: d, token: token,
                       aux: UInt32(DeviceCloseCode.firmwareBlocked))
            return now + 2 * latency
        }
        let gw = Int(devices[d].gateway)
        gateways[gw].pending += 1
        if !checkMemory(gw) { return .max }
        let aux = UInt32(gw) << 16 | (gateways[gw].generation & 0xFFFF)
        let arrival = now + latency
        // A `latency` fault delays the gateway's answer after the query (the handshake stays
        // pending meanwhile); the database sees its queries in the order issued, as without it.
        let added = backend.faults.addedLatency
        if let end = backend.database.issue(arrival: arrival, cost: groups[g].lookupCost) {
            if backend.faults.dbErrorFraction > 0,
               FaultState.draw(seed: seed, device: d, number: token, salt: 0x55, fraction: backend.faults.dbErrorFraction) {
                // The query failed (storage): the gateway closes with 1011, as when the pool gives up.
                queue.push(time: end + added, kind: Kind.lookupRefused.rawValue, device: d, token: token, aux: aux)
                return end + added + latency
            }
            queue.push(time: end + added, kind: Kind.lookupDone.rawValue, device: d, token: token, aux: aux)
            return end + added + latency
        } else {
            let refusal = arrival + backend.database.queueTimeout!
            queue.push(time: refusal + added, kind: Kind.lookupRefused.rawValue, device: d, token: token, aux: aux)
            return refusal + added + latency
        }
    }

    @inline(__always)
    private mutating func sendHeartbeat(_ d: Int, seq: UInt32) -> Nanoseconds {
        // A heartbeat that waits past the pool timeout is never acknowledged: the device times out.
        guard let end = backend.database.issue(arrival: now + latency, cost: heartbeatCost) else { return .max }
        // A heartbeat whose query fails (`db-errors`) is not acknowledged either.
        if backend.faults.dbErrorFraction > 0,
           FaultState.draw(seed: seed, device: d, number: seq, salt: 0x66, fraction: backend.faults.dbErrorFraction) { return .max }
        return end + backend.faults.addedLatency + latency
    }

    // MARK: - Connections and gateways

    private mutating func attach(_ d: Int, gateway gw: Int) {
        devices[d].link = .attached
        devices[d].gateway = UInt16(gw)
        devices[d].gatewayGeneration = UInt16(truncatingIfNeeded: gateways[gw].generation)
        gateways[gw].open += 1
        devices[d].placeOnGateway = gateways[gw].members.insert(Int32(d))
    }

    /// The device closes its transport (or it is gone): release the gateway's connection.
    mutating func detach(_ d: Int) {
        if devices[d].link == .attached {
            let gw = Int(devices[d].gateway)
            if UInt16(truncatingIfNeeded: gateways[gw].generation) == devices[d].gatewayGeneration {
                gateways[gw].open -= 1
                let place = devices[d].placeOnGateway
                if let moved = gateways[gw].members.remove(at: place) { devices[Int(moved)].placeOnGateway = place }
            }
        }
        devices[d].link = .none
        devices[d].connection &+= 1
    }

    /// The network or the backend drops a device's connection.
    mutating func dropConnection(_ d: Int) {
        detach(d)
        let wasOnline = devices[d].machine.isOnline
        let actions = devices[d].machine.transportDown(.lost, now: now, behaviour: behaviour(d))
        if wasOnline { wentOffline(d) }
        perform(actions, device: d)
    }

    /// Crashes the gateway if it is over its memory limit; returns false when it crashed.
    @discardableResult
    private mutating func checkMemory(_ gw: Int) -> Bool {
        let memory = backend.memory(gw)
        core.recorder.memory(memory)
        guard backend.overLimit(memory) else { return true }
        let detail = backend.crashDetail(gw, memory: memory)
        let dropped = takeDown(gw, for: backend.spec.restart, cause: "crash")
        core.recorder.crash(at: now, detail: "\(detail); \(dropped) devices dropped")
        return false
    }

    /// Stops a gateway: every connection on it drops (a mass disconnect when they are enough);
    /// it accepts again after `down`. Returns how many devices were attached.
    @discardableResult
    mutating func takeDown(_ gw: Int, for down: Nanoseconds, cause: String) -> Int {
        let dropped = backend.stop(gw)
        let onlineDropped = dropped.reduce(0) { $0 + (devices[$1].machine.isOnline ? 1 : 0) }
        let episode = core.recorder.beginEpisode(at: now, cause: cause, onlineDropped: onlineDropped)
        for d in dropped {
            if episode != 0 && devices[d].machine.isOnline { devices[d].episode = episode }
            dropConnection(d)
        }
        queue.push(time: now + max(1, down), kind: Kind.gatewayUp.rawValue, device: gw)
        return dropped.count
    }

    // MARK: - Online accounting (`DriverCore`)

    @inline(__always)
    private mutating func wentOnline(_ d: Int, handshake: Nanoseconds?) {
        let g = Int(devices[d].group)
        if let end = core.wentOnline(device: d, group: g, session: devices[d].connection, episode: &devices[d].episode,
                                     joining: &devices[d].joining, now: now, handshake: handshake, initial: handshake == nil) {
            queue.push(time: end, kind: Kind.linkDrop.rawValue, device: d, token: devices[d].connection)
        }
    }

    @inline(__always)
    private mutating func wentOffline(_ d: Int) {
        core.wentOffline(group: Int(devices[d].group))
    }

    // MARK: - Report

    private func makeReport(wallSeconds: Double) -> Report {
        let info = Recorder.RunInfo(mode: "simulate", scenario: scenario.name, seed: scenario.seed,
                                    clockStart: scenario.clockStart, devices: plan.deviceCount,
                                    thresholds: scenario.thresholds.map { ($0.metric, $0.expression) })
        return core.recorder.report(info, durationS: Time.seconds(min(now, scenario.duration)),
                               eventsProcessed: eventsProcessed, wallS: wallSeconds)
    }
}
