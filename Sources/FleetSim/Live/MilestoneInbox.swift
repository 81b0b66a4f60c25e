import DeviceModel
import Foundation
import LoadReport

/// Milestones for the run's recorder from any thread (a hook's outcome arrives on its own), and
/// the groups' blocked state the timeline set, taken by the coordinator at each boundary.
final class MilestoneInbox: @unchecked Sendable {  // state guarded by `lock`
    private enum Entry { case timeline(Nanoseconds, String), counted(Nanoseconds, String, [Int]), crash(Nanoseconds, String), blocked([Bool]) }
    private let lock = NSLock()
    private var entries: [Entry] = []

    func timeline(at t: Nanoseconds, _ detail: String) { lock.withLock { entries.append(.timeline(t, detail)) } }
    func timeline(at t: Nanoseconds, template: String, counts: [Int]) { lock.withLock { entries.append(.counted(t, template, counts)) } }
    func crash(at t: Nanoseconds, _ detail: String) { lock.withLock { entries.append(.crash(t, detail)) } }
    func blocked(_ groups: [Bool]) { lock.withLock { entries.append(.blocked(groups)) } }

    func drain(into recorder: inout Recorder) {
        let taken = lock.withLock { () -> [Entry] in defer { entries.removeAll() }; return entries }
        for entry in taken {
            switch entry {
            case .timeline(let t, let detail): recorder.timeline(at: t, detail)
            case .counted(let t, let template, let counts): recorder.timeline(at: t, template: template, counts: counts)
            case .crash(let t, let detail): recorder.crash(at: t, detail: detail)
            case .blocked(let groups): for (g, b) in groups.enumerated() { recorder.setBlocked(group: g, b) }
            }
        }
    }
}
