import DeviceModel
import Foundation
import LoadReport

/// The `timeline` milestones of the faults, at their start and their end: one text for both
/// drivers, so that a simulated and a live report of one scenario say the same thing.
enum FaultMilestone {
    /// The start of a fault (or `remove-devices`). `matched`: the names of the groups a
    /// `feature-failure` fails; `removed`: how many devices `remove-devices` took out.
    static func start(_ action: Scenario.Action, matched: [String] = [], removed: Int = 0) -> String? {
        switch action {
        case .outage(let duration):
            return "outage: the backend refuses every connection for \(ReportFormat.duration(duration))"
        case .failGateway(let gw, let duration):
            return "gateway \(gw) fails and stays down for \(ReportFormat.duration(duration))"
        case .httpErrors(let fraction, let status, let retryAfter, let duration):
            return "\(percent(fraction)) of upgrades answered \(status)"
                + (retryAfter.map { " with Retry-After \(ReportFormat.duration($0))" } ?? " without Retry-After")
                + " for \(ReportFormat.duration(duration))"
        case .latency(let add, let duration):
            return "the backend answers hellos and heartbeats \(ReportFormat.duration(add)) later for \(ReportFormat.duration(duration))"
        case .dbErrors(let fraction, let duration):
            return "\(percent(fraction)) of database queries fail for \(ReportFormat.duration(duration))"
        case .dnsFailure(let duration):
            return "the backend's name does not resolve for \(ReportFormat.duration(duration))"
        case .removeDevices(let name):
            return "\(removed) devices of group \(name) leave the fleet (powered off)"
        case .featureFailure(let model, let firmware, let message, let duration):
            return "\(message) fails for " + cohort(model: model, firmware: firmware)
                + " (groups \(matched.joined(separator: ", ")); sessions kept) for \(ReportFormat.duration(duration))"
        case .addDevices, .block, .unblock, .restartGateways, .setDatabaseCores, .dropSessions, .setAdmission:
            return nil
        }
    }

    /// The end of a fault, when its `for` has elapsed. `errors`: a `feature-failure`'s error
    /// replies per group (name, count), nil when a later failure of the same message replaced it.
    static func end(_ action: Scenario.Action, errors: [(group: String, count: Int)]? = nil) -> String? {
        switch action {
        case .outage: return "outage over: the backend accepts connections again"
        case .failGateway(let gw, _): return "gateway \(gw) back"
        case .httpErrors: return "http-errors over: upgrades answered normally"
        case .latency: return "latency over: the backend answers at its own speed"
        case .dbErrors: return "db-errors over: database queries succeed"
        case .dnsFailure: return "dns-failure over: the name resolves again"
        case .featureFailure(_, _, let message, _):
            guard let errors else { return "\(message) failure over (replaced by a later one)" }
            return "\(message) failure over: error replies per group: "
                + (errors.isEmpty ? "none" : errors.map { "\($0.group) \($0.count)" }.joined(separator: ", "))
        case .addDevices, .block, .unblock, .restartGateways, .setDatabaseCores, .dropSessions, .setAdmission, .removeDevices:
            return nil
        }
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
