import DeviceModel
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

    /// A span of scenario time for a reader: `Units.format(duration:)` to the millisecond below a
    /// second, the tenth of a second below two minutes, the second below an hour, the minute beyond
    /// (`250ms`, `42.3s`, `2m5s`, `17h`).
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e9 else { return "—" }
        let a = abs(seconds)
        let resolution = a < 1 ? Time.millisecond : a < 120 ? 100 * Time.millisecond : a < 3600 ? Time.second : Time.minute
        return Units.format(duration: Nanoseconds((seconds * 1e9).rounded()), resolution: resolution)
    }
}
