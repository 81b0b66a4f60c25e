import DeviceModel
import LoadReport

/// The backend as the simulation models it, beside its `DatabaseModel`: gateway processes
/// behind a load balancer, admission control, and the faults in force. The engine
/// (`Simulation`) moves devices through it; this type knows gateways, not devices' machines.
///
/// What the timeline changes arrives as the `TimelineInterpreter`'s effects (`setFault`,
/// `clearFault`, `admission`); the block list's effect on groups stays with the engine's groups.
struct BackendModel {
    let database: DatabaseModel
    private let gatewayStore: FixedArray<GatewayModel>
    /// The gateways, written in place on the hot path.
    let gateways: UnsafeMutableBufferPointer<GatewayModel>
    let spec: Scenario.Gateways
    private let loadBalancer: Scenario.LoadBalancing
    private var roundRobin = 0
    /// Admission control, the rule the reference backend applies too; nil: off.
    private(set) var admission: AdmissionGate?
    var faults = FaultState()

    init(_ backend: Scenario.Backend, interval: Nanoseconds, intervals: Int) {
        let db = backend.database
        database = DatabaseModel(cores: db.cores, speed: db.speed, queueTimeout: db.queueTimeout,
                                 interval: interval, intervals: intervals)
        gatewayStore = FixedArray((0..<max(1, backend.gateways.count)).map { _ in GatewayModel() })
        gateways = gatewayStore.items
        spec = backend.gateways
        loadBalancer = backend.loadBalancer
        admission = backend.admission.map { AdmissionGate(policy: $0, now: 0) }
    }

    // MARK: Gateways

    /// The gateway the load balancer sends a new connection to; nil: none is up.
    mutating func pickGateway() -> Int? {
        let n = gateways.count
        switch loadBalancer {
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

    @inline(__always)
    func memory(_ gw: Int) -> Int64 { gateways[gw].memory(spec) }

    /// Whether gateway `gw` is past its memory limit (it crashes).
    @inline(__always)
    func overLimit(_ memory: Int64) -> Bool { memory > spec.memoryLimit }

    /// What a crash of `gw` says, before it drops its devices.
    func crashDetail(_ gw: Int, memory: Int64) -> String {
        "gateway \(gw) out of memory at \(ReportFormat.bytes(memory)) "
            + "(\(gateways[gw].open) connections, \(gateways[gw].pending) handshakes in flight)"
    }

    /// Stops gateway `gw`: a new generation, no connections, nothing pending. Returns the devices
    /// that were attached, in device order (the engine drops them in that order: deterministic,
    /// and a forward walk of the device array). Reads the gateway's own set, not the whole fleet.
    mutating func stop(_ gw: Int) -> [Int] {
        let members = gateways[gw].members
        var dropped = UnsafeBufferPointer(start: members.items, count: members.count).map { Int($0) }
        dropped.sort()
        members.removeAll()
        gateways[gw].up = false
        gateways[gw].generation &+= 1
        gateways[gw].open = 0
        gateways[gw].pending = 0
        return dropped
    }

    mutating func start(_ gw: Int) { gateways[gw].up = true }

    // MARK: Admission and faults

    /// Admission control's verdict on a connect reaching `gw`: nil when admitted, or the Retry-After.
    @inline(__always)
    mutating func refusal(at gw: Int, now: Nanoseconds) -> Nanoseconds? {
        guard admission != nil, case .refused(_, let retryAfter) = admission!.admit(pending: gateways[gw].pending, now: now) else {
            return nil
        }
        return retryAfter
    }

    mutating func setAdmission(_ admission: Scenario.Admission?, now: Nanoseconds) {
        self.admission = admission.map { AdmissionGate(policy: $0, now: now) }
    }

    /// A fault of the timeline starts (`TimelineInterpreter.Effect.faultSet`).
    mutating func setFault(_ action: Scenario.Action) {
        switch action {
        case .httpErrors(let fraction, let status, let retryAfter, _):
            faults.httpFraction = fraction
            faults.httpStatus = status
            faults.httpRetryAfter = retryAfter
        case .latency(let add, _): faults.addedLatency = add
        case .dbErrors(let fraction, _): faults.dbErrorFraction = fraction
        case .dnsFailure: faults.dnsFailing = true
        default: break
        }
    }

    /// The fault of this kind ends (`TimelineInterpreter.Effect.faultCleared`).
    mutating func clearFault(_ action: Scenario.Action) {
        switch action {
        case .httpErrors: faults.httpFraction = 0; faults.httpRetryAfter = nil
        case .latency: faults.addedLatency = 0
        case .dbErrors: faults.dbErrorFraction = 0
        case .dnsFailure: faults.dnsFailing = false
        default: break
        }
    }

    // MARK: Sample

    /// The backend at the end of interval `index`.
    func sample(interval index: Int, now: Nanoseconds) -> Recorder.BackendSample {
        var memory: Int64 = 0
        var pending = 0
        for gw in gateways {
            if gw.up { memory += gw.memory(spec) }
            pending += gw.pending
        }
        return Recorder.BackendSample(dbUtilization: database.utilization(interval: index), dbWaitS: Time.seconds(database.wait(at: now)),
                                      pendingHandshakes: pending, memoryBytes: memory)
    }
}
