import Foundation

/// Formats scenario times: as offsets (`+3h10m`) or, when the scenario names a wall-clock start,
/// on that clock (`03:10`), so a postmortem replay reads on the incident's own timeline.
public struct ScenarioClock: Sendable {
    private let start: Date?

    public init(start: String?) {
        if let start {
            let f = ISO8601DateFormatter()
            self.start = f.date(from: start)
        } else {
            self.start = nil
        }
    }

    public func label(_ seconds: Double) -> String {
        if let start {
            let date = start.addingTimeInterval(seconds)
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let c = calendar.dateComponents([.day, .hour, .minute, .second], from: date)
            let startDay = calendar.component(.day, from: start)
            let dayMark = c.day == startDay ? "" : " (+\(calendar.dateComponents([.day], from: calendar.startOfDay(for: start), to: date).day ?? 0)d)"
            return String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0) + dayMark
        }
        return ScenarioClock.offset(seconds)
    }

    /// `+1h05m`, `+42s`.
    public static func offset(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let h = total / 3600, m = (total % 3600) / 60, s = total % 60
        if h > 0 { return String(format: "+%dh%02dm", h, m) }
        if m > 0 { return String(format: "+%dm%02ds", m, s) }
        return "+\(s)s"
    }

    public static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        let total = Int(seconds.rounded())
        if total < 3600 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
        return "\(total / 3600)h\(String(format: "%02d", (total % 3600) / 60))m"
    }
}
