import DeviceModel
import Foundation
import LoadReport
import Logging
import NIOCore

/// The live runner's part of the timeline: what `TimelineInterpreter` says each event (and each
/// fault's end) means, carried out on the embedded backend's admin API, the scenario's hooks
/// against another target, or the loops' own devices.
extension LiveRunner {
    // MARK: Timeline

    /// Timeline event `index`, due at `t`: what the interpreter says it means, carried out.
    func apply(_ index: Int, at t: Nanoseconds, drivers: [LoopDriver]) {
        let action = scenario.timeline[index].action
        var values = faultValues(action, phase: "start")
        values["at"] = Units.format(duration: t)
        carryOut(interpreter.start(index), at: t, values: values, drivers: drivers)
    }

    /// The end of the fault timeline event `index` started, when its `for` has elapsed. An
    /// outage's and a failed gateway's processes reopen by themselves (their restart's down time
    /// is the fault's `for`).
    func endFault(_ index: Int, at t: Nanoseconds, drivers: [LoopDriver]) {
        guard let step = interpreter.end(index) else { return }
        var values = faultValues(scenario.timeline[index].action, phase: "end")
        values["at"] = Units.format(duration: t)
        carryOut(step, at: t, values: values, drivers: drivers)
    }

    /// Carries out an interpreter step: the embedded backend's admin calls, or the action's hook
    /// against another target (`values`, to which the effects add theirs), and the loops' part;
    /// then records the milestone on every loop, with the calls' failures or the hook's outcome.
    func carryOut(_ step: TimelineInterpreter.Step, at t: Nanoseconds, values: [String: String], drivers: [LoopDriver]) {
        var values = values
        var adminCalls: [(path: String, body: String, processes: [Int]?)] = []
        var devices = 0
        var errors: [Int] = []
        func onLoops(_ work: @escaping @Sendable (LoopDriver) -> Void) { for d in drivers { d.loop.execute { work(d) } } }
        for effect in step.effects {
            switch effect {
            case .firmware(let range, let blocking, let groups):
                adminCalls.append((blocking ? "/admin/block" : "/admin/unblock", range.description, [0]))
                values["firmware"] = range.description
                // The run's recorder counts eligibility; each loop's, the size of its mass disconnects.
                inbox.blocked(groups)
                onLoops { d in for (g, blocked) in groups.enumerated() { d.setBlocked(group: g, blocked) } }
            case .gatewaysDown(let which, let down, _):
                adminCalls.append(("/admin/restart", "down=\(wall(down))", which.map { [$0] }))
                values["gateway"] = which.map(String.init) ?? "all"
                values["down"] = wall(down)
            case .databaseCores(let cores):
                let n = backend.map { $0.databaseWorkers(cores: cores) } ?? cores
                adminCalls.append(("/admin/db-workers", String(n), nil))
                values["cores"] = String(cores)
            case .sessionsDropped(let fraction, let event):
                devices += drivers.map { d in (try? d.loop.submit { d.dropSessions(fraction: fraction, event: event, now: t) }.wait()) ?? 0 }
                    .reduce(0, +)
            case .admission(let admission):
                let body = Self.admissionBody(admission, timeScale: options.timeScale)
                adminCalls.append(("/admin/admission", body, nil))
                values["admission"] = body
            case .faultSet(.dnsFailure), .faultCleared(.dnsFailure):
                let failing = { if case .faultSet = effect { return true } else { return false } }()
                onLoops { d in d.setDNSFailing(failing) }
            case .faultSet(let action):
                adminCalls.append(("/admin/fault", faultBody(action), nil))
            case .faultCleared(let action):
                adminCalls.append(("/admin/fault", "\(action.name) off", nil))
            case .groupRemoved(let g):
                devices += drivers.map { d in (try? d.loop.submit { d.removeGroup(g) }.wait()) ?? 0 }.reduce(0, +)
            case .featureFailureStarted(let owner, let message, let groups):
                onLoops { d in d.startFeatureFailure(owner: owner, message: message, groups: groups, now: t) }
            case .featureFailureEnded(let owner):
                // Each loop's whole errors per matched group.
                let perLoop: [[Int]] = drivers.compactMap { d in try? d.loop.submit { d.endFeatureFailure(owner: owner, now: t) }.wait() }
                errors = perLoop.reduce(into: Array(repeating: 0, count: perLoop.first?.count ?? 0)) { sum, loop in
                    for k in loop.indices { sum[k] += loop[k] }
                }
            }
        }
        let inbox = self.inbox
        let counted = step.milestone.counted(devices: devices, errors: errors)
        switch options.role {
        case .devices:
            // A local shard: the backend's side is the parent's, which records the event; a shard
            // records only what its own devices did, for the merge to add up.
            if let counted { inbox.timeline(at: t, template: counted.template, counts: counted.counts) }
            return
        case .whole, .backend:
            break
        }
        let record: @Sendable (String) -> Void = { text in
            if let counted { inbox.timeline(at: t, template: counted.template + text.dropFirst(Report.Milestone.fill(counted.template, counted.counts).count),
                                            counts: counted.counts) } else { inbox.timeline(at: t, text) }
        }
        carryOut(step.milestone.text(devices: devices, errors: errors), adminCalls: adminCalls, hook: step.hook, values: values,
                 record: record)
    }

    /// The body of `/admin/fault` that starts a backend fault, durations in wall time.
    func faultBody(_ action: Scenario.Action) -> String {
        switch action {
        case .httpErrors(let fraction, let status, let retryAfter, _):
            return "http-errors fraction=\(fraction) status=\(status)" + (retryAfter.map { " retry-after=\(wall($0))" } ?? "")
        case .latency(let add, _): return "latency add=\(wall(add))"
        case .dbErrors(let fraction, _): return "db-errors fraction=\(fraction)"
        default: return action.name
        }
    }

    /// The body of `/admin/admission`: the scenario's settings in the one text form, in wall time
    /// at this run's time scale (so a refused device waits the scenario's Retry-After).
    static func admissionBody(_ a: Scenario.Admission?, timeScale: Double) -> String {
        a.map { $0.scaled(timeScale: timeScale).description } ?? "off"
    }

    /// A scenario duration in wall time at this run's time scale, as the backend's controls take it.
    func wall(_ ns: Nanoseconds) -> String {
        Units.format(duration: LiveClock.wall(ns, timeScale: options.timeScale))
    }

    /// A fault's values for its hook (`Scenario.Hook.placeholders`), durations in wall time.
    /// `phase`: `start` or `end` (a fault's hook runs at both).
    func faultValues(_ action: Scenario.Action, phase: String) -> [String: String] {
        var v: [String: String] = [:]
        switch action {
        case .outage, .failGateway, .httpErrors, .latency, .dbErrors, .featureFailure: v["phase"] = phase
        default: return v
        }
        if let d = action.faultDuration { v["for"] = wall(d) }
        switch action {
        case .failGateway(let gw, _): v["gateway"] = String(gw)
        case .httpErrors(let fraction, let status, let retryAfter, _):
            v["fraction"] = String(fraction); v["status"] = String(status); v["retry_after"] = retryAfter.map(wall) ?? "none"
        case .latency(let add, _): v["add"] = wall(add)
        case .dbErrors(let fraction, _): v["fraction"] = String(fraction)
        case .featureFailure(let model, let firmware, let message, _):
            v["message"] = message; v["model"] = model ?? "any"; v["firmware"] = firmware?.description ?? "*"
        default: break
        }
        return v
    }

    /// Applies an action's effect on the backend: the embedded backend's admin calls (each to the
    /// processes it names, nil: every one), or the action's hook against another target; then
    /// records the milestone, with the calls' failures or the hook's outcome.
    func carryOut(_ detail: String, adminCalls: [(path: String, body: String, processes: [Int]?)],
                          hook name: String?, values: [String: String], record: @escaping @Sendable (String) -> Void) {
        if let backend {
            var failures: [String] = []
            for call in adminCalls {
                for i in call.processes ?? Array(backend.endpoints.processes.indices) {
                    do { try backend.admin(call.path, body: call.body, process: i) } catch { failures.append("\(error)") }
                }
            }
            if failures.isEmpty { logger.info("timeline: \(detail)") } else {
                logger.warning("timeline: \(detail): the backend refused", metadata: ["errors": "\(failures.joined(separator: "; "))"])
            }
            record(detail + (failures.isEmpty ? "" : " (failed: \(failures.joined(separator: "; ")))"))
        } else if let name, let hooks = hookRunner, hooks.hook(for: name) != nil {
            hooks.run(name, values: values) { outcome in record(detail + " (\(outcome))") }
        } else {
            logger.info("timeline: \(detail)")
            record(detail)
        }
    }
}
