import DeviceModel
import LoadReport

/// The bookkeeping around the device state machine, one home for every driver (the simulation
/// and each live event loop; DESIGN.md, "Two drivers, one recorder"). The machine says a
/// device went online or offline; this type notes it in the recorder, ends a device's mass
/// disconnect when it is back, draws its session's lifetime, picks the sessions a
/// `drop-sessions` ends, takes a removed group's devices out, and accrues `feature-failure`
/// errors. The driver keeps its devices (in its own storage) and carries out what it is told:
/// schedule the session's end, close a transport.
struct DriverCore {
    var recorder: Recorder
    let plan: FleetPlan
    /// Each group's mean session lifetime (nil: sessions last until something else ends them).
    private let lifetimes: [Nanoseconds?]
    /// Groups that left the fleet (`remove-devices`): their devices not yet joined never join.
    private var removed: [Bool]
    /// `feature-failure`s in force, accrued from the recorder's online counts.
    private var features: [FeatureFailure] = []

    init(plan: FleetPlan, interval: Nanoseconds) {
        self.plan = plan
        recorder = Recorder(interval: interval, groups: plan.groups.count)
        lifetimes = plan.groups.map(\.sessionLifetime)
        removed = Array(repeating: false, count: plan.groups.count)
    }

    // MARK: Transitions

    /// A device of `group` joins at its plan time; false when the group has left the fleet.
    /// The driver marks the device `joining` until its first attempt is over: until then it is
    /// not yet missing from the online fraction (a healthy cold start is not a dip).
    @inline(__always)
    mutating func join(group g: Int) -> Bool {
        if removed[g] { return false }
        recorder.joined(group: g, connecting: true)
        return true
    }

    /// After a machine event of a device still `joining`: its first attempt is over once it has
    /// failed (a failed attempt counted, or no transport any more); a welcome ends it in
    /// `wentOnline`. From then on the device counts as eligible.
    @inline(__always)
    mutating func afterEvent(group g: Int, machine: DeviceMachine, joining: inout Bool) {
        guard joining, machine.attempt != 0 || !machine.hasTransport else { return }
        joining = false
        recorder.settled(group: g)
    }

    /// Device `d` of group `g` went online in session number `session`, its handshake having
    /// taken `handshake` (nil: `initial`, it joined already online, a warm fleet). Ends the mass disconnect it was dropped in (`episode`).
    /// Returns when the network ends this session (nil: it does not): the driver schedules it.
    @inline(__always)
    mutating func wentOnline(device d: Int, group g: Int, session: UInt32, episode: inout UInt32, joining: inout Bool,
                             now: Nanoseconds, handshake: Nanoseconds?, initial: Bool = false) -> Nanoseconds? {
        if let handshake { recorder.handshake(nanoseconds: handshake) }
        recorder.online(group: g, initial: initial)
        if joining {
            joining = false
            recorder.settled(group: g)
        }
        if episode != 0 {
            recorder.back(episode: Int(episode), at: now)
            episode = 0
        }
        // The network ends sessions at random (exponential lifetimes).
        guard let mean = lifetimes[g] else { return nil }
        return now + plan.sessionLifetime(ofDevice: d, session: session, mean: mean)
    }

    @inline(__always)
    mutating func wentOffline(group g: Int) { recorder.offline(group: g) }

    // MARK: Timeline

    /// `drop-sessions` (timeline event `event`): of `devices` (the driver's, as (index, plan
    /// number, online)), the online ones the plan picks, in order. With `episode`, also the mass
    /// disconnect they form (0: too few): the driver tags each with it and drops its session. A
    /// live loop sees only its share of the fleet: it notes each drop as a loss instead, which the
    /// run's recorder joins over the loops (`Recorder.absorb`).
    mutating func sessionsToDrop(fraction: Double, event: Int, now: Nanoseconds, count: Int, episode: Bool = true,
                                 device: (Int) -> (number: Int, online: Bool)) -> (indices: [Int], episode: UInt32) {
        var dropped: [Int] = []
        for i in 0..<count {
            let (d, online) = device(i)
            if online && plan.dropsSession(ofDevice: d, event: event, fraction: fraction) { dropped.append(i) }
        }
        guard episode else { return (dropped, 0) }
        return (dropped, recorder.beginEpisode(at: now, cause: "drop-sessions", onlineDropped: dropped.count))
    }

    /// `remove-devices`: group `g` leaves the fleet. Each of `candidates` (the driver's indices of
    /// the group's devices) that has joined (`joined`) leaves: `leave` closes its transport and
    /// starts its machine over idle (saying whether it was online, and whether it was still in
    /// its first attempt), and it stops counting as eligible. Returns how many left.
    mutating func remove(group g: Int, candidates: some Sequence<Int>, joined: (Int) -> Bool,
                         leave: (Int) -> (wasOnline: Bool, joining: Bool)) -> Int {
        removed[g] = true
        var left = 0
        for i in candidates where joined(i) {
            let device = leave(i)
            recorder.left(group: g, wasOnline: device.wasOnline, settled: !device.joining)
            left += 1
        }
        return left
    }

    /// A `feature-failure` starts (replacing one of the same message).
    mutating func startFeatureFailure(owner: Int, message: String, groups: [FeatureFailure.Target], now: Nanoseconds) {
        features.removeAll { $0.message == message }
        features.append(FeatureFailure(owner: owner, message: message, groups: groups, since: now))
    }

    /// The end of the `feature-failure` of timeline event `owner`: its whole errors per entry of
    /// its groups, nil when a later one replaced it.
    mutating func endFeatureFailure(owner: Int, now: Nanoseconds) -> [Int]? {
        guard let f = features.firstIndex(where: { $0.owner == owner }) else { return nil }
        accrueFeatureErrors(now: now)
        return features.remove(at: f).counts
    }

    /// The expected error replies so far (`FeatureFailure.accrue`).
    mutating func accrueFeatureErrors(now: Nanoseconds) {
        for f in features.indices { features[f].accrue(until: now, into: &recorder) }
    }

    /// A live loop's counts since the last boundary, `now`, for the run's one recorder.
    mutating func handOver(at now: Nanoseconds) -> Recorder.Part {
        if !features.isEmpty { accrueFeatureErrors(now: now) }
        return recorder.handOver()
    }

    /// Closes the interval ending at `now` with the backend's sample.
    mutating func closeInterval(at now: Nanoseconds, backend: Recorder.BackendSample) {
        if !features.isEmpty { accrueFeatureErrors(now: now) }
        recorder.closeInterval(at: now, backend: backend)
    }
}
