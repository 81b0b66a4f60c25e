import DeviceModel
import LoadReport

/// A `feature-failure` in force: the groups whose devices get an error reply to `message`, and
/// the errors so far. It is an expected count, not a message exchange: each online device of a
/// failing group sends the message at its mean rate, so the errors since the last accrual are
/// online × time ÷ every (kept fractional), with no per-device event and no disconnect. The
/// simulation and each loop of a live run accrue it the same way (`DriverCore`), from their recorder.
struct FeatureFailure {
    /// A group the failure reaches, and how often its devices send the failing message.
    struct Target: Equatable {
        var group: Int
        var every: Nanoseconds
    }

    /// The timeline event that started it.
    var owner: Int
    var message: String
    var groups: [Target]
    /// Errors so far per entry of `groups`, fractional.
    var errors: [Double]
    var since: Nanoseconds

    /// The groups of the scenario's fleet that the failure reaches: with the `model` (nil: any) and
    /// firmware in `firmware` (nil: any), whose profile sends `message`, with its mean interval.
    static func cohort(_ scenario: Scenario, model: String?, firmware: FirmwareRange?,
                       message: String) -> [Target] {
        var matched: [Target] = []
        for (g, group) in scenario.fleet.enumerated() where (model == nil || group.model == model)
            && (firmware == nil || firmware!.contains(group.firmware)) {
            if let m = scenario.profiles[group.profile]?.messages.first(where: { $0.kind == message }) {
                matched.append(Target(group: g, every: m.every))
            }
        }
        return matched
    }

    init(owner: Int, message: String, groups: [Target], since: Nanoseconds) {
        self.owner = owner
        self.message = message
        self.groups = groups
        self.errors = Array(repeating: 0, count: groups.count)
        self.since = since
    }

    /// Adds the errors from `since` to `now` at the recorder's online counts, and records the
    /// whole ones that are new.
    mutating func accrue(until now: Nanoseconds, into recorder: inout Recorder) {
        let dt = Double(now - since)
        for (i, entry) in groups.enumerated() {
            let before = errors[i]
            let after = before + Double(recorder.online(group: entry.group)) * dt / Double(entry.every)
            errors[i] = after
            recorder.featureErrors(Int(after.rounded(.down)) - Int(before.rounded(.down)))
        }
        since = now
    }

    /// Whole errors per entry of `groups`.
    var counts: [Int] { errors.map { Int($0.rounded(.down)) } }
}
