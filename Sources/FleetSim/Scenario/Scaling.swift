import DeviceModel

extension Scenario {
    /// The same scenario at `factor` times the size: every device group and timeline addition,
    /// and the backend's capacity (gateways, database cores, admission rate), so that the
    /// scenario keeps its shape. Per-device and per-query costs, memory per gateway and the
    /// table size stay as they are. Counts are rounded; database capacity is kept exact by
    /// adjusting core speed when the core count must be rounded.
    public func scaled(by factor: Double) -> Scenario {
        guard factor != 1 else { return self }
        var s = self
        func scale(_ n: Int) -> Int { Int((Double(n) * factor).rounded()) }
        for i in s.fleet.indices {
            s.fleet[i].count = scale(s.fleet[i].count)
            if let roster = s.fleet[i].roster, roster.count < s.fleet[i].count { s.fleet[i].roster = nil }
        }
        for i in s.timeline.indices {
            switch s.timeline[i].action {
            case .addDevices(let group, let count, let ramp):
                s.timeline[i].action = .addDevices(group: group, count: scale(count), ramp: ramp)
            case .setDatabaseCores(let cores):
                s.timeline[i].action = .setDatabaseCores(max(1, scale(cores)))
            case .setAdmission(let admission):
                s.timeline[i].action = .setAdmission(admission.map { Scenario.scaledAdmission($0, factor) })
            case .restartGateways(let gateway, let down):
                if let g = gateway {
                    s.timeline[i].action = .restartGateways(gateway: min(g, max(1, scale(s.backend.gateways.count)) - 1), down: down)
                }
            case .failGateway(let g, let duration):
                s.timeline[i].action = .failGateway(gateway: min(g, max(1, scale(s.backend.gateways.count)) - 1), duration: duration)
            case .block, .unblock, .dropSessions, .outage, .httpErrors, .latency, .dbErrors, .dnsFailure, .removeDevices,
                 .featureFailure:
                break
            }
        }
        s.backend.gateways.count = max(1, scale(backend.gateways.count))
        // Keep memory capacity proportional when the gateway count had to be rounded.
        let exactGateways = Double(backend.gateways.count) * factor
        let ratio = exactGateways / Double(s.backend.gateways.count)
        if ratio != 1 {
            let spare = Double(backend.gateways.memoryLimit - backend.gateways.memoryBase) * ratio
            s.backend.gateways.memoryLimit = backend.gateways.memoryBase + Int64(spare)
        }
        let exactCores = Double(backend.database.cores) * factor
        s.backend.database.cores = max(1, Int(exactCores.rounded()))
        s.backend.database.speed = backend.database.speed * exactCores / Double(s.backend.database.cores)
        s.backend.admission = backend.admission.map { Scenario.scaledAdmission($0, factor) }
        return s
    }

    private static func scaledAdmission(_ a: Admission, _ factor: Double) -> Admission {
        var a = a
        a.connectRate = a.connectRate.map { $0 * factor }
        a.burst = a.burst.map { $0 * factor }
        return a
    }
}
