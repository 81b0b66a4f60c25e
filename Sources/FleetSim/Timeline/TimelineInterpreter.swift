import Foundation
import DeviceModel
import LoadReport

/// What a timeline action, or the end of a fault, means: one decision for both drivers
/// (DESIGN.md, "Two drivers, one recorder"). A pure value that tracks what is in force (the
/// block list, which timeline event owns each kind of fault) and answers each event with the
/// effects to carry out and the milestone to record. The simulation applies the effects to its
/// backend model and fleet; the live runner to the embedded backend's admin API, the scenario's
/// hooks or its loops. Neither decides what an action means, and neither writes a milestone text.
struct TimelineInterpreter {
    /// Something to carry out.
    enum Effect: Equatable {
        /// The block list gains (`blocking`) or loses `range`; `groups`: whether each group of
        /// the fleet is blocked now (a group leaves the online fraction's denominator while it is).
        case firmware(FirmwareRange, blocking: Bool, groups: [Bool])
        /// Gateways stop (nil: every one), dropping their connections, and accept again after
        /// `down`; `cause` names the mass disconnect it starts.
        case gatewaysDown(Int?, down: Nanoseconds, cause: String)
        case databaseCores(Int)
        /// The network drops this fraction of the online sessions, chosen by the plan
        /// (`FleetPlan.dropsSession(ofDevice:event:fraction:)` with `event`).
        case sessionsDropped(fraction: Double, event: Int)
        /// Admission control from now on; nil: off.
        case admission(Scenario.Admission?)
        /// A fault of the backend (`http-errors`, `latency`, `db-errors`, `dns-failure`) starts,
        /// replacing one of its kind in force.
        case faultSet(Scenario.Action)
        /// The fault of this kind in force ends.
        case faultCleared(Scenario.Action)
        /// Every device of the group leaves the fleet; its devices not yet joined never join.
        case groupRemoved(Int)
        /// A `feature-failure` starts (replacing one of the same message), owned by timeline event `owner`.
        case featureFailureStarted(owner: Int, message: String, groups: [FeatureFailure.Target])
        /// The `feature-failure` of timeline event `owner` ends; its error counts go in the milestone.
        case featureFailureEnded(owner: Int)
    }

    /// The milestone of an event. Most texts are known at once; the ones that count what the
    /// effects did (sessions dropped, devices removed, error replies) take the count.
    struct Milestone: Equatable {
        enum Text: Equatable {
            case fixed(String)
            case sessionsDropped(fraction: Double)
            case devicesRemoved(group: String)
            case featureErrors(message: String, groups: [String])
        }
        /// The event's note (`note:`), written before the text.
        var prefix: String
        var text: Text

        /// The text, with what the effects counted: `devices` dropped or removed, a
        /// `feature-failure`'s error replies per group.
        func text(devices: Int = 0, errors: [Int] = []) -> String {
            guard let c = counted(devices: devices, errors: errors) else {
                if case .fixed(let s) = text { return prefix + s }
                return prefix + "\(text)"
            }
            return LoadReport.Report.Milestone.fill(c.template, c.counts)
        }

        /// A counting text as a template (`{0}`, `{1}`… where the counts go) and its counts, so
        /// that the shards of one run can add theirs (`Report.Milestone.template`); nil: a fixed text.
        func counted(devices: Int = 0, errors: [Int] = []) -> (template: String, counts: [Int])? {
            switch text {
            case .fixed: return nil
            case .sessionsDropped(let fraction):
                return (prefix + "network drops \(Int((fraction * 100).rounded()))% of sessions ({0} devices)", [devices])
            case .devicesRemoved(let group):
                return (prefix + "{0} devices of group \(group) leave the fleet (powered off)", [devices])
            case .featureErrors(let message, let groups):
                let pairs = zip(groups, errors).enumerated().map { k, pair in "\(pair.0) {\(k)}" }
                return (prefix + "\(message) failure over: error replies per group: " + (pairs.isEmpty ? "none" : pairs.joined(separator: ", ")),
                        Array(errors.prefix(groups.count)))
            }
        }
    }

    /// One event's meaning.
    struct Step: Equatable {
        var effects: [Effect] = []
        var milestone: Milestone
        /// When the fault this event starts ends (scenario time); nil: it is not a fault's start.
        var endsAt: Nanoseconds?
        /// The scenario hook that carries the event out against another target; nil: none (an
        /// action the devices carry out, or the end of a fault a later one replaced).
        var hook: String?
    }

    let scenario: Scenario
    /// The fleet's groups (the plan's: the scenario's, then those `add-devices` creates).
    let groupNames: [String]
    let groupFirmware: [FirmwareVersion]
    private(set) var blockList = FirmwareBlockList()
    /// The timeline event whose fault of each kind is in force, by action name; `feature-failure`s by message.
    private var owners: [String: Int] = [:]
    private var featureOwners: [String: Int] = [:]

    init(scenario: Scenario, plan: FleetPlan) {
        self.scenario = scenario
        groupNames = plan.groups.map(\.name)
        groupFirmware = plan.groups.map(\.firmware)
    }

    /// Timeline event `index` at its time `at`.
    mutating func start(_ index: Int) -> Step {
        let event = scenario.timeline[index]
        let action = event.action
        let prefix = event.note.map { "\($0): " } ?? ""
        func fixed(_ text: String) -> Milestone { Milestone(prefix: prefix, text: .fixed(text)) }
        var step: Step
        switch action {
        case .addDevices(let group, let count, let ramp):
            step = Step(milestone: fixed("\(count) devices join group \(group)" + (ramp > 0 ? " over \(ReportFormat.duration(ramp))" : "")))
        case .block(let range), .unblock(let range):
            let blocking: Bool
            if case .block = action { blockList.block(range); blocking = true } else { blockList.unblock(range); blocking = false }
            step = Step(effects: [.firmware(range, blocking: blocking, groups: groupFirmware.map { blockList.contains($0) })],
                        milestone: fixed("firmware \(range) " + (blocking ? "blocked" : "unblocked")))
        case .restartGateways(let which, let down):
            step = Step(effects: [.gatewaysDown(which, down: down, cause: "restart")],
                        milestone: fixed((which.map { "gateway \($0)" } ?? "all gateways") + " restarted (down \(ReportFormat.duration(down)))"))
        case .setDatabaseCores(let cores):
            step = Step(effects: [.databaseCores(cores)], milestone: fixed("database capacity set to \(cores) cores"))
        case .dropSessions(let fraction):
            step = Step(effects: [.sessionsDropped(fraction: fraction, event: index)],
                        milestone: Milestone(prefix: prefix, text: .sessionsDropped(fraction: fraction)))
        case .setAdmission(let policy):
            step = Step(effects: [.admission(policy)], milestone: fixed(policy == nil ? "admission control off" : "admission control on"))
        case .outage(let duration):
            step = Step(effects: [.gatewaysDown(nil, down: duration, cause: "outage")],
                        milestone: fixed("outage: the backend refuses every connection for \(ReportFormat.duration(duration))"))
        case .failGateway(let gw, let duration):
            step = Step(effects: [.gatewaysDown(gw, down: duration, cause: "gateway failure")],
                        milestone: fixed("gateway \(gw) fails and stays down for \(ReportFormat.duration(duration))"))
        case .httpErrors(let fraction, let status, let retryAfter, let duration):
            owners[action.name] = index
            step = Step(effects: [.faultSet(action)], milestone: fixed(
                "\(Self.percent(fraction)) of upgrades answered \(status)"
                + (retryAfter.map { " with Retry-After \(ReportFormat.duration($0))" } ?? " without Retry-After")
                + " for \(ReportFormat.duration(duration))"))
        case .latency(let add, let duration):
            owners[action.name] = index
            step = Step(effects: [.faultSet(action)], milestone: fixed(
                "the backend answers hellos and heartbeats \(ReportFormat.duration(add)) later for \(ReportFormat.duration(duration))"))
        case .dbErrors(let fraction, let duration):
            owners[action.name] = index
            step = Step(effects: [.faultSet(action)], milestone: fixed(
                "\(Self.percent(fraction)) of database queries fail for \(ReportFormat.duration(duration))"))
        case .dnsFailure(let duration):
            owners[action.name] = index
            step = Step(effects: [.faultSet(action)], milestone: fixed(
                "the backend's name does not resolve for \(ReportFormat.duration(duration))"))
        case .removeDevices(let name):
            step = Step(effects: groupNames.firstIndex(of: name).map { [.groupRemoved($0)] } ?? [],
                        milestone: Milestone(prefix: prefix, text: .devicesRemoved(group: name)))
        case .featureFailure(let model, let firmware, let message, let duration):
            // An expected count (`FeatureFailure`): no message goes on the wire.
            let matched = FeatureFailure.cohort(scenario, model: model, firmware: firmware, message: message)
            featureOwners[message] = index
            step = Step(effects: [.featureFailureStarted(owner: index, message: message, groups: matched)], milestone: fixed(
                "\(message) fails for " + Self.cohort(model: model, firmware: firmware)
                + " (groups \(matched.map { groupNames[$0.group] }.joined(separator: ", ")); sessions kept) for \(ReportFormat.duration(duration))"))
        }
        step.endsAt = action.faultDuration.map { event.at + $0 }
        step.hook = action.hookName
        return step
    }

    /// The end of the fault timeline event `index` started, when its `for` has elapsed: the
    /// backend (or the name) as before unless a later fault of the same kind has taken over, and
    /// the end milestone either way. An outage's and a failed gateway's gateways come back by
    /// themselves (their down time is the fault's `for`). Nil for an event that is not a fault.
    mutating func end(_ index: Int) -> Step? {
        let action = scenario.timeline[index].action
        func fixed(_ text: String) -> Milestone { Milestone(prefix: "", text: .fixed(text)) }
        var step: Step
        switch action {
        case .outage:
            step = Step(milestone: fixed("outage over: the backend accepts connections again"))
        case .failGateway(let gw, _):
            step = Step(milestone: fixed("gateway \(gw) back"))
        case .httpErrors, .latency, .dbErrors, .dnsFailure:
            let text: String
            switch action {
            case .httpErrors: text = "http-errors over: upgrades answered normally"
            case .latency: text = "latency over: the backend answers at its own speed"
            case .dbErrors: text = "db-errors over: database queries succeed"
            default: text = "dns-failure over: the name resolves again"
            }
            step = Step(milestone: fixed(text))
            guard owners[action.name] == index else { return step }
            owners[action.name] = nil
            step.effects = [.faultCleared(action)]
        case .featureFailure(let model, let firmware, let message, _):
            guard featureOwners[message] == index else {
                return Step(milestone: fixed("\(message) failure over (replaced by a later one)"))
            }
            featureOwners[message] = nil
            let matched = FeatureFailure.cohort(scenario, model: model, firmware: firmware, message: message)
            step = Step(effects: [.featureFailureEnded(owner: index)],
                        milestone: Milestone(prefix: "", text: .featureErrors(message: message, groups: matched.map { groupNames[$0.group] })))
        case .addDevices, .block, .unblock, .restartGateways, .setDatabaseCores, .dropSessions, .setAdmission, .removeDevices:
            return nil
        }
        step.hook = action.hookName
        return step
    }

    static func percent(_ f: Double) -> String {
        let p = f * 100
        return p == p.rounded() ? "\(Int(p))%" : String(format: "%.1f%%", p)
    }

    static func cohort(model: String?, firmware: FirmwareRange?) -> String {
        switch (model, firmware) {
        case (nil, nil): return "every device"
        case (let m?, nil): return "model \(m)"
        case (nil, let r?): return "firmware \(r)"
        case (let m?, let r?): return "model \(m) on firmware \(r)"
        }
    }
}
