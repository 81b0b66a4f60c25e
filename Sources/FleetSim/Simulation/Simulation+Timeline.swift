import DeviceModel

extension Simulation {
    /// Timeline event `index`: the interpreter says what it means; this carries it out on the
    /// backend model and the fleet, then records its milestone.
    mutating func applyTimeline(_ index: Int) {
        let step = interpreter.start(index)
        let devices = carryOut(step.effects)
        if let end = step.endsAt {
            queue.push(time: end, kind: Kind.faultEnd.rawValue, device: index)
        }
        core.recorder.timeline(at: now, step.milestone.text(devices: devices))
    }

    /// The end of the fault that timeline event `index` started.
    mutating func endFault(_ index: Int) {
        guard let step = interpreter.end(index) else { return }
        var errors: [Int] = []
        for effect in step.effects {
            switch effect {
            case .featureFailureEnded(let owner): errors = core.endFeatureFailure(owner: owner, now: now) ?? []
            default: _ = carryOut([effect])
            }
        }
        core.recorder.timeline(at: now, step.milestone.text(errors: errors))
    }

    /// Carries out the interpreter's effects; returns how many devices they dropped or removed.
    private mutating func carryOut(_ effects: [TimelineInterpreter.Effect]) -> Int {
        var devices = 0
        for effect in effects {
            switch effect {
            case .firmware(_, _, let blocked):
                for g in groups.indices {
                    groups[g].blocked = blocked[g]
                    core.recorder.setBlocked(group: g, blocked[g])
                }
            case .gatewaysDown(let which, let down, let cause):
                for gw in which.map({ [$0] }) ?? Array(0..<backend.gateways.count) where gw < backend.gateways.count {
                    takeDown(gw, for: down, cause: cause)
                }
            case .databaseCores(let cores):
                backend.database.setCores(cores, at: now)
            case .sessionsDropped(let fraction, let event):
                let fleet = self.devices
                let (dropped, episode) = core.sessionsToDrop(fraction: fraction, event: event, now: now, count: fleet.count) { d in
                    (d, fleet[d].machine.isOnline)
                }
                for d in dropped {
                    if episode != 0 { fleet[d].episode = episode }
                    dropConnection(d)
                }
                devices += dropped.count
            case .admission(let admission):
                backend.setAdmission(admission, now: now)
            case .faultSet(let action):
                backend.setFault(action)
            case .faultCleared(let action):
                backend.clearFault(action)
            case .groupRemoved(let g):
                devices += removeGroup(g)
            case .featureFailureStarted(let owner, let message, let groups):
                core.startFeatureFailure(owner: owner, message: message, groups: groups, now: now)
            case .featureFailureEnded(let owner):
                _ = core.endFeatureFailure(owner: owner, now: now)
            }
        }
        return devices
    }

    /// Every device of group `g` leaves the fleet; returns how many had joined.
    private mutating func removeGroup(_ g: Int) -> Int {
        let fleet = devices
        let members = plan.cohorts.lazy.filter { $0.group == g }.flatMap { $0.first..<($0.first + $0.count) }
        let joined = { (d: Int) in fleet[d].machine.state != .idle }
        for d in members where joined(d) { detach(d) }   // stale: every event of its connection and its timer
        return core.remove(group: g, candidates: members, joined: joined) { d in
            let left = (wasOnline: fleet[d].machine.isOnline, joining: fleet[d].joining)
            fleet[d].machine = DeviceMachine(random: fleet[d].machine.random)
            fleet[d].episode = 0
            fleet[d].joining = false
            return left
        }
    }
}
