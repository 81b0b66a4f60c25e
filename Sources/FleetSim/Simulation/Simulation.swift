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

    /// One device: exactly one 64-byte cache line (the engine's fields fill the machine's tail
    /// padding), allocated on a cache-line boundary, so handling an event touches one line.
    struct DeviceSlot {
        var machine: DeviceMachine
        var link: Link = .none
        var group: UInt16
        var gateway: UInt16 = 0
        /// When the current connect attempt began, in microseconds modulo 2^32: handshakes end
        /// far sooner than the 71 minutes this wraps at, so the difference is exact.
        var attemptStartUs: UInt32 = 0
        /// Incremented at each connect and close: events of an older connection are ignored.
        var connection: UInt32 = 0
        /// This device's place in its gateway's `members`; valid while `link == .attached` and
        /// the gateway generation matches.
        var placeOnGateway: Int32 = -1
        /// The gateway's generation when this device attached, modulo 2^16: a crash drops every
        /// device attached to the gateway, so no attached device is 65,536 generations old.
        var gatewayGeneration: UInt16 = 0
        /// The mass disconnect this device was dropped in and has not come back from (0: none).
        var episode: UInt32 = 0

        @inline(__always)
        static func microseconds(_ t: Nanoseconds) -> UInt32 { UInt32(truncatingIfNeeded: t / Time.microsecond) }
    }

    enum Link: UInt8 { case none, connecting, attached }

    struct GroupRuntime {
        var name: String
        var firmware: FirmwareVersion
        var behaviour: DeviceBehaviour
        var lookupCost: Nanoseconds
        var sessionLifetime: Nanoseconds?
        var warm: Bool
        var blocked = false
        var joined = 0
        var online = 0
    }

    enum Kind: UInt8 {
        // Joins are not queued: `JoinSchedule` hands them out in order.
        case timer, transportResult, lookupDone, lookupRefused, welcome, reject, linkDrop
        case gatewayUp, timeline, sample
    }

    /// Owns the device array; `devices` is its buffer, used directly on the hot path.
    private let storage: DeviceStorage
    private let devices: UnsafeMutableBufferPointer<DeviceSlot>
    private let behaviours: UnsafeMutableBufferPointer<DeviceBehaviour>
    private let heartbeatCost: Nanoseconds
    private let groupStore: FixedArray<GroupRuntime>
    private let groups: UnsafeMutableBufferPointer<GroupRuntime>
    private let queue = EventQueue()
    private var joins = JoinSchedule()
    private let database: DatabaseModel
    private let gatewayStore: FixedArray<GatewayModel>
    private let gateways: UnsafeMutableBufferPointer<GatewayModel>
    private let gatewaySpec: Scenario.Gateways
    private var roundRobin = 0
    private var admission: Scenario.Admission?
    private var bucket: TokenBucket?
    private var blockList: [FirmwareRange] = []
    private let latency: Nanoseconds
    private let seed: UInt64
    private var now: Nanoseconds = 0

    // MARK: Measurements

    /// Devices online, all groups (blocked firmware keeps sessions it already had).
    private var online = 0
    private var counters = Counters()
    private var totals = Counters()
    private var handshakes = LatencyRecorder()
    private var intervalHandshakes = LatencyRecorder()
    private var series: Report.Series
    private var milestones: [Report.Milestone] = []
    private var tracker = MilestoneTracker()
    private var episodes: [Episode] = [Episode(t: 0, cause: "", devices: 0)]   // index 0: none
    private var currentSecond: Int64 = -1
    private var attemptsThisSecond = 0
    private var peakAttemptsPerSecond = 0
    private var peakMemory: Int64 = 0
    private var intervalPeakMemory: Int64 = 0
    public private(set) var eventsProcessed: UInt64 = 0

    struct Counters {
        var connectAttempts = 0, connects = 0, disconnects = 0
        var handshakeTimeouts = 0, ackTimeouts = 0, rejects = 0, crashes = 0

        mutating func add(_ o: Counters) {
            connectAttempts += o.connectAttempts; connects += o.connects; disconnects += o.disconnects
            handshakeTimeouts += o.handshakeTimeouts; ackTimeouts += o.ackTimeouts
            rejects += o.rejects; crashes += o.crashes
        }
    }

    struct Episode {
        var t: Nanoseconds
        var cause: String
        var devices: Int
        var back = 0
        var t50: Nanoseconds?
        var t95: Nanoseconds?
    }

    /// Builds the fleet and the backend model. The scenario must be valid (`ScenarioLoader`).
    public init(scenario: Scenario) {
        self.scenario = scenario
        self.seed = scenario.seed
        self.latency = scenario.network.latency
        self.gatewaySpec = scenario.backend.gateways
        let intervals = Int((scenario.duration + scenario.interval - 1) / scenario.interval)
        let db = scenario.backend.database
        database = DatabaseModel(cores: db.cores, speed: db.speed, queueTimeout: db.queueTimeout,
                                 interval: scenario.interval, intervals: intervals)
        gatewayStore = FixedArray((0..<max(1, scenario.backend.gateways.count)).map { _ in GatewayModel() })
        gateways = gatewayStore.items
        series = Report.Series(intervalS: Time.seconds(scenario.interval))
        admission = scenario.backend.admission

        var groups: [GroupRuntime] = []
        var groupIndex: [String: Int] = [:]
        for group in scenario.fleet {
            let profile = scenario.profiles[group.profile]!
            let cost: Nanoseconds = profile.lookup == .scan
                ? Nanoseconds(db.rows) * db.scanCostPerRow : db.indexedCost
            groupIndex[group.name] = groups.count
            groups.append(GroupRuntime(name: group.name, firmware: group.firmware, behaviour: profile.behaviour,
                                       lookupCost: cost, sessionLifetime: profile.sessionLifetime, warm: group.warm))
        }
        groupStore = FixedArray(groups)
        self.groups = groupStore.items

        // Every device of the run, including those the timeline adds, exists from the start.
        let total = scenario.totalDevices
        let storage = DeviceStorage(devices: total, groups: groups.map(\.behaviour))
        let buffer = storage.devices
        self.storage = storage
        devices = buffer
        behaviours = storage.behaviours
        heartbeatCost = db.heartbeatCost
        var next = 0
        let seed = scenario.seed
        func addDevices(group: Int, count: Int, at: Nanoseconds, ramp: Nanoseconds) {
            for _ in 0..<count {
                let random = SeededRandom(seed: seed, stream: UInt64(next))
                (buffer.baseAddress! + next).initialize(to: DeviceSlot(machine: DeviceMachine(random: random),
                                                                        group: UInt16(group)))
                next += 1
            }
            joins.add(first: next - count, count: count, at: at, ramp: ramp)
        }
        for (g, group) in scenario.fleet.enumerated() {
            addDevices(group: g, count: group.count, at: group.joinAt, ramp: group.ramp)
        }
        for event in scenario.timeline {
            if case .addDevices(let name, let count, let ramp) = event.action, let g = groupIndex[name] {
                addDevices(group: g, count: count, at: event.at, ramp: ramp)
            }
        }
        // Timeline events at t = 0 come before the joins at t = 0 (`joinGoesFirst`).
        for (i, event) in scenario.timeline.enumerated() {
            queue.push(time: event.at, kind: Kind.timeline.rawValue, device: i)
        }
        for k in 1...max(1, intervals) {
            queue.push(time: min(scenario.duration, Nanoseconds(k) * scenario.interval), kind: Kind.sample.rawValue, device: k - 1)
        }
        if let a = admission, let rate = a.connectRate { bucket = TokenBucket(rate: rate, burst: a.burst ?? rate, now: 0) }
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
            case .gatewayUp: onGatewayUp(event.device)
            case .timeline: applyTimeline(event.device)
            case .sample:
                sample(index: event.device)
                progress?(Double(now) / Double(scenario.duration), onlineFraction)
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
        groups[g].joined += 1
        if groups[g].warm && !groups[g].blocked, let gw = pickGateway() {
            attach(d, gateway: gw)
            let actions = devices[d].machine.resume(now: now, behaviour: groups[g].behaviour)
            wentOnline(d, initial: true)
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
        guard let gw = pickGateway() else {
            devices[d].link = .none
            perform(devices[d].machine.transportDown(.connectFailed, now: now, behaviour: behaviour(d)), device: d)
            return
        }
        if let a = admission {
            var refuse = false
            if let limit = a.maxPending, gateways[gw].pending >= limit { refuse = true }
            if !refuse, bucket != nil, !bucket!.take(now: now) { refuse = true }
            if refuse {
                devices[d].link = .none
                counters.rejects += 1
                let actions = devices[d].machine.received(.reject(code: 1013, retryAfter: a.retryAfter),
                                                          now: now, behaviour: behaviour(d))
                perform(actions, device: d)
                return
            }
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
        queue.push(time: now + latency, kind: Kind.reject.rawValue, device: d, token: event.token, aux: 1011)
    }

    private mutating func onWelcome(_ event: SimEvent) {
        let d = event.device
        guard current(event), devices[d].link == .attached else { return }
        let actions = devices[d].machine.received(.welcome, now: now, behaviour: behaviour(d))
        if devices[d].machine.isOnline {
            let latencyNs = Nanoseconds(DeviceSlot.microseconds(now) &- devices[d].attemptStartUs) * Time.microsecond
            handshakes.record(nanoseconds: latencyNs)
            intervalHandshakes.record(nanoseconds: latencyNs)
            wentOnline(d, initial: false)
        }
        perform(actions, device: d)
    }

    private mutating func onReject(_ event: SimEvent) {
        let d = event.device
        guard current(event), devices[d].link == .attached else { return }
        let wasOnline = devices[d].machine.isOnline
        counters.rejects += 1
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

    private mutating func onGatewayUp(_ gw: Int) {
        gateways[gw].up = true
    }

    // MARK: - Actions

    @inline(__always)
    private mutating func perform(_ actions: Actions, device d: Int) {
        if actions.close { detach(d) }
        switch actions.note {
        case .handshakeTimeout: counters.handshakeTimeouts += 1
        case .ackTimeout: counters.ackTimeouts += 1
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
        counters.connectAttempts += 1
        let second = now / Time.second
        if second != currentSecond {
            currentSecond = second
            attemptsThisSecond = 0
        }
        attemptsThisSecond += 1
        if attemptsThisSecond > peakAttemptsPerSecond { peakAttemptsPerSecond = attemptsThisSecond }
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
            queue.push(time: now + 2 * latency, kind: Kind.reject.rawValue, device: d, token: token, aux: 4003)
            return now + 2 * latency
        }
        let gw = Int(devices[d].gateway)
        gateways[gw].pending += 1
        if !checkMemory(gw) { return .max }
        let aux = UInt32(gw) << 16 | (gateways[gw].generation & 0xFFFF)
        let arrival = now + latency
        if let end = database.issue(arrival: arrival, cost: groups[g].lookupCost) {
            queue.push(time: end, kind: Kind.lookupDone.rawValue, device: d, token: token, aux: aux)
            return end + latency
        } else {
            let refusal = arrival + database.queueTimeout!
            queue.push(time: refusal, kind: Kind.lookupRefused.rawValue, device: d, token: token, aux: aux)
            return refusal + latency
        }
    }

    @inline(__always)
    private mutating func sendHeartbeat(_ d: Int, seq: UInt32) -> Nanoseconds {
        // A heartbeat that waits past the pool timeout is never acknowledged: the device times out.
        guard let end = database.issue(arrival: now + latency, cost: heartbeatCost) else { return .max }
        return end + latency
    }

    // MARK: - Connections and gateways

    private mutating func pickGateway() -> Int? {
        let n = gateways.count
        switch scenario.backend.loadBalancer {
        case .roundRobin:
            for step in 0..<n {
                let gw = (roundRobin + step) % n
                if gateways[gw].up {
                    roundRobin = (gw + 1) % n
                    return gw
                }
            }
            return nil
        case .leastConnections:
            var best: Int?
            for gw in 0..<n where gateways[gw].up {
                if best == nil || gateways[gw].open + gateways[gw].pending < gateways[best!].open + gateways[best!].pending {
                    best = gw
                }
            }
            return best
        }
    }

    private mutating func attach(_ d: Int, gateway gw: Int) {
        devices[d].link = .attached
        devices[d].gateway = UInt16(gw)
        devices[d].gatewayGeneration = UInt16(truncatingIfNeeded: gateways[gw].generation)
        gateways[gw].open += 1
        devices[d].placeOnGateway = gateways[gw].members.insert(Int32(d))
    }

    /// The device closes its transport (or it is gone): release the gateway's connection.
    private mutating func detach(_ d: Int) {
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
    private mutating func dropConnection(_ d: Int) {
        detach(d)
        let wasOnline = devices[d].machine.isOnline
        let actions = devices[d].machine.transportDown(.lost, now: now, behaviour: behaviour(d))
        if wasOnline { wentOffline(d) }
        perform(actions, device: d)
    }

    /// Crashes the gateway if it is over its memory limit; returns false when it crashed.
    @discardableResult
    private mutating func checkMemory(_ gw: Int) -> Bool {
        let memory = gateways[gw].memory(gatewaySpec)
        if memory > intervalPeakMemory { intervalPeakMemory = memory }
        guard memory > gatewaySpec.memoryLimit else { return true }
        let detail = "gateway \(gw) out of memory at \(formatBytes(memory)) "
            + "(\(gateways[gw].open) connections, \(gateways[gw].pending) handshakes in flight)"
        counters.crashes += 1
        gateways[gw].crashes += 1
        takeDown(gw, for: gatewaySpec.restart, cause: "crash", detail: detail, milestone: .backendCrash)
        return false
    }

    /// Stops a gateway: every connection on it drops; it accepts again after `down`.
    private mutating func takeDown(_ gw: Int, for down: Nanoseconds, cause: String, detail: String,
                          milestone: Report.Milestone.Kind?) {
        // Read the gateway's own set of devices instead of the whole fleet: a crash costs its
        // connections, not a pass over a million devices. Device order makes it deterministic
        // and walks the device array forwards.
        let members = gateways[gw].members
        var dropped = UnsafeBufferPointer(start: members.items, count: members.count).map { Int($0) }
        dropped.sort()
        members.removeAll()
        gateways[gw].up = false
        gateways[gw].generation &+= 1
        gateways[gw].open = 0
        gateways[gw].pending = 0
        let episode = beginEpisode(cause: cause, devices: dropped)
        for d in dropped {
            if episode != 0 && devices[d].machine.isOnline { devices[d].episode = episode }
            dropConnection(d)
        }
        if let milestone {
            record(milestone, "\(detail); \(dropped.count) devices dropped")
        }
        queue.push(time: now + max(1, down), kind: Kind.gatewayUp.rawValue, device: gw)
    }

    // MARK: - Online accounting and storm episodes

    private var onlineFraction: Double {
        let eligible = eligibleCount
        return eligible == 0 ? 1 : Double(eligibleOnline) / Double(eligible)
    }

    /// Online devices whose firmware is allowed to connect: the numerator of the online fraction.
    private var eligibleOnline: Int {
        var n = 0
        for g in groups where !g.blocked { n += g.online }
        return n
    }

    private var eligibleCount: Int {
        var n = 0
        for g in groups where !g.blocked { n += g.joined }
        return n
    }

    @inline(__always)
    private mutating func wentOnline(_ d: Int, initial: Bool) {
        online += 1
        groups[Int(devices[d].group)].online += 1
        if !initial { counters.connects += 1 }
        let g = Int(devices[d].group)
        if let mean = groups[g].sessionLifetime {
            // The network ends sessions at random (exponential lifetimes), drawn by hashing so
            // the draw does not depend on other devices' history.
            let u = SeededRandom.unit(hashing: seed ^ UInt64(d) << 20 ^ UInt64(devices[d].connection) << 48 ^ 0x11)
            let life = Nanoseconds(-log1p(-u) * Double(mean))
            queue.push(time: now + max(1, life), kind: Kind.linkDrop.rawValue, device: d, token: devices[d].connection)
        }
        let e = Int(devices[d].episode)
        if e != 0 {
            devices[d].episode = 0
            episodes[e].back += 1
            let n = episodes[e].devices
            if episodes[e].t50 == nil, episodes[e].back * 2 >= n { episodes[e].t50 = now }
            if episodes[e].t95 == nil, episodes[e].back * 100 >= n * 95 { episodes[e].t95 = now }
        }
    }

    @inline(__always)
    private mutating func wentOffline(_ d: Int) {
        online -= 1
        groups[Int(devices[d].group)].online -= 1
        counters.disconnects += 1
    }

    /// Starts a mass-disconnect episode when enough devices drop at once; returns its id (0: none).
    private mutating func beginEpisode(cause: String, devices dropped: [Int]) -> UInt32 {
        let onlineDropped = dropped.reduce(0) { $0 + (devices[$1].machine.isOnline ? 1 : 0) }
        guard onlineDropped >= max(10, eligibleCount / 100) else { return 0 }
        episodes.append(Episode(t: now, cause: cause, devices: onlineDropped))
        return UInt32(episodes.count - 1)
    }

    // MARK: - Timeline

    private mutating func applyTimeline(_ index: Int) {
        let event = scenario.timeline[index]
        var detail: String
        switch event.action {
        case .addDevices(let group, let count, let ramp):
            detail = "\(count) devices join group \(group)" + (ramp > 0 ? " over \(formatDuration(ramp))" : "")
        case .block(let range):
            blockList.append(range)
            updateBlocked()
            detail = "firmware \(range) blocked"
        case .unblock(let range):
            blockList.removeAll { $0 == range }
            updateBlocked()
            detail = "firmware \(range) unblocked"
        case .restartGateways(let which, let down):
            let targets = which.map { [$0] } ?? Array(0..<gateways.count)
            detail = (which == nil ? "all gateways" : "gateway \(which!)") + " restarted (down \(formatDuration(down)))"
            record(.timeline, (event.note.map { "\($0): " } ?? "") + detail)
            for gw in targets where gw < gateways.count {
                takeDown(gw, for: down, cause: "restart", detail: "", milestone: nil)
            }
            return
        case .setDatabaseCores(let cores):
            database.setCores(cores, at: now)
            detail = "database capacity set to \(cores) cores"
        case .dropSessions(let fraction):
            var dropped: [Int] = []
            for d in 0..<devices.count where devices[d].machine.isOnline {
                let u = SeededRandom.unit(hashing: seed ^ UInt64(d) &* 0x9E37 ^ UInt64(index) << 40 ^ 0x22)
                if u < fraction { dropped.append(d) }
            }
            let episode = beginEpisode(cause: "drop-sessions", devices: dropped)
            for d in dropped {
                if episode != 0 && devices[d].machine.isOnline { devices[d].episode = episode }
                dropConnection(d)
            }
            detail = "network drops \(Int((fraction * 100).rounded()))% of sessions (\(dropped.count) devices)"
        case .setAdmission(let a):
            admission = a
            bucket = a?.connectRate.map { TokenBucket(rate: $0, burst: a?.burst ?? $0, now: now) }
            detail = a == nil ? "admission control off" : "admission control on"
        }
        record(.timeline, (event.note.map { "\($0): " } ?? "") + detail)
    }

    private mutating func updateBlocked() {
        for g in groups.indices {
            groups[g].blocked = blockList.contains { $0.contains(groups[g].firmware) }
        }
    }

    // MARK: - Sampling and milestones

    private mutating func record(_ kind: Report.Milestone.Kind, _ detail: String, at time: Nanoseconds? = nil) {
        milestones.append(Report.Milestone(tS: Time.seconds(time ?? now), kind: kind, detail: detail))
    }

    private mutating func sample(index: Int) {
        let eligible = eligibleCount
        let utilization = database.utilization(interval: index)
        let wait = database.wait(at: now)
        let pending = gateways.reduce(0) { $0 + $1.pending }
        var memory: Int64 = 0
        for gw in gateways where gw.up { memory += gw.memory(gatewaySpec) }
        series.tS.append(Time.seconds(now))
        let eligibleOnline = self.eligibleOnline
        series.online.append(eligibleOnline)
        series.eligible.append(eligible)
        series.connects.append(counters.connects)
        series.disconnects.append(counters.disconnects)
        series.connectAttempts.append(counters.connectAttempts)
        series.handshakeTimeouts.append(counters.handshakeTimeouts)
        series.ackTimeouts.append(counters.ackTimeouts)
        series.rejects.append(counters.rejects)
        series.crashes.append(counters.crashes)
        series.dbUtilization.append(utilization)
        series.dbWaitS.append(Time.seconds(wait))
        series.pendingHandshakes.append(pending)
        series.backendMemoryBytes.append(memory)
        series.handshakeP50Ms.append(intervalHandshakes.percentileMs(50))
        series.handshakeP99Ms.append(intervalHandshakes.percentileMs(99))
        peakMemory = max(peakMemory, intervalPeakMemory)
        intervalPeakMemory = memory

        let input = MilestoneTracker.Sample(
            t: now, interval: scenario.interval, online: eligibleOnline, eligible: eligible, utilization: utilization,
            wait: wait, timeouts: counters.handshakeTimeouts + counters.ackTimeouts,
            handshakeTimeouts: counters.handshakeTimeouts, ackTimeouts: counters.ackTimeouts,
            attempts: counters.connectAttempts, connects: counters.connects)
        for m in tracker.observe(input) { milestones.append(m) }

        totals.add(counters)
        counters = Counters()
        intervalHandshakes.reset()
    }

    // MARK: - Report

    private mutating func makeReport(wallSeconds: Double) -> Report {
        totals.add(counters)
        counters = Counters()
        let fractions = zip(series.online, series.eligible).map { $1 == 0 ? 1.0 : Double($0) / Double($1) }
        let established = fractions.firstIndex { $0 >= 0.95 } ?? 0
        let considered = fractions.isEmpty ? [] : Array(fractions[established...])
        let utilizations = series.dbUtilization
        let storm = makeStorm()
        let summary = Report.Summary(
            devices: scenario.totalDevices, durationS: Time.seconds(min(now, scenario.duration)),
            onlineFractionMin: considered.min() ?? onlineFraction,
            onlineFractionFinal: fractions.last ?? onlineFraction,
            connectAttempts: totals.connectAttempts, connects: totals.connects, disconnects: totals.disconnects,
            handshakeTimeouts: totals.handshakeTimeouts, ackTimeouts: totals.ackTimeouts, rejects: totals.rejects,
            backendCrashes: totals.crashes, recoveryS: recoverySeconds(),
            handshakeMs: handshakes.percentiles,
            dbUtilizationMax: utilizations.max() ?? 0,
            dbUtilizationMean: utilizations.isEmpty ? 0 : utilizations.reduce(0, +) / Double(utilizations.count),
            backendMemoryPeakBytes: max(peakMemory, intervalPeakMemory),
            eventsProcessed: eventsProcessed, wallS: wallSeconds)
        let thresholds = scenario.thresholds.map { Report.ThresholdResult(metric: $0.metric, expression: $0.expression) }
        return Report(mode: "simulate", scenario: scenario.name, seed: scenario.seed, clockStart: scenario.clockStart,
                      summary: summary, storm: storm,
                      milestones: milestones.sorted { $0.tS < $1.tS },
                      series: series, thresholds: thresholds,
                      histograms: Report.Histograms(handshakeUs: handshakes.histogram))
    }

    /// From the last timeline event after the last collapse (the mitigation) to the recovery;
    /// from the collapse itself when the fleet recovered on its own.
    private func recoverySeconds() -> Double? {
        guard let recovered = milestones.last(where: { $0.kind == .recovered }),
              let collapse = milestones.last(where: { $0.kind == .fleetCollapse && $0.tS <= recovered.tS })
        else { return nil }
        let mitigation = milestones.last { $0.kind == .timeline && $0.tS >= collapse.tS && $0.tS <= recovered.tS }
        return recovered.tS - (mitigation?.tS ?? collapse.tS)
    }

    private func makeStorm() -> Report.Storm {
        let list = episodes.dropFirst().map { e in
            Report.MassDisconnect(tS: Time.seconds(e.t), cause: e.cause, devices: e.devices,
                                  to50PctS: e.t50.map { Time.seconds($0 - e.t) },
                                  to95PctS: e.t95.map { Time.seconds($0 - e.t) })
        }
        func median(_ values: [Double?]) -> Double? {
            // An episode that never got back counts as slower than every one that did.
            guard !values.isEmpty else { return nil }
            let sorted = values.map { $0 ?? .infinity }.sorted()
            let m = sorted[(sorted.count - 1) / 2]
            return m.isFinite ? m : nil
        }
        return Report.Storm(
            retryAmplification: totals.connects == 0 ? nil : Double(totals.connectAttempts) / Double(totals.connects),
            peakReconnectRatePerS: Double(peakAttemptsPerSecond),
            massDisconnects: list,
            timeTo50PctSMedian: median(list.map(\.to50PctS)),
            timeTo95PctSMedian: median(list.map(\.to95PctS)))
    }
}

/// The device array, allocated once for the whole run on a cache-line boundary, and freed with
/// the simulation.
final class DeviceStorage {
    let devices: UnsafeMutableBufferPointer<Simulation.DeviceSlot>
    let behaviours: UnsafeMutableBufferPointer<DeviceBehaviour>
    private var initialized = 0

    init(devices count: Int, groups: [DeviceBehaviour]) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Simulation.DeviceSlot>.stride,
                                                   alignment: 64)
        devices = UnsafeMutableBufferPointer(start: raw.bindMemory(to: Simulation.DeviceSlot.self, capacity: max(1, count)),
                                             count: max(1, count))
        behaviours = .allocate(capacity: max(1, groups.count))
        _ = behaviours.initialize(from: groups)
        initialized = count
    }

    deinit {
        devices.baseAddress!.deinitialize(count: initialized)
        UnsafeMutableRawPointer(devices.baseAddress!).deallocate()
        behaviours.baseAddress!.deinitialize(count: behaviours.count)
        behaviours.deallocate()
    }
}

func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

func formatDuration(_ ns: Nanoseconds) -> String {
    var s = ns / Time.second
    if s == 0 { return "\(ns / Time.millisecond)ms" }
    var out = ""
    if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
    if s >= 60 { out += "\(s / 60)m"; s %= 60 }
    if s > 0 || out.isEmpty { out += "\(s)s" }
    return out
}
