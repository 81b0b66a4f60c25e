import DeviceModel
import NIOCore

/// Scenario time on the real clock: a live run's `now` is the wall time since its start times
/// `time_scale` (every scenario duration is divided by K in wall time; network and database
/// latency are not, so they cost K times more scenario time).
public struct LiveClock: Sendable {
    let start: NIODeadline
    let timeScale: Double

    /// Wall nanoseconds since the start.
    @inline(__always)
    func wall() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds) - Int64(start.uptimeNanoseconds) }

    /// Scenario nanoseconds now.
    @inline(__always)
    func now() -> Nanoseconds { scenario(wall: wall()) }

    @inline(__always)
    func scenario(wall: Int64) -> Nanoseconds { Nanoseconds(Double(wall) * timeScale) }

    @inline(__always)
    func wall(scenario t: Nanoseconds) -> Int64 { Int64(Double(t) / timeScale) }
}

extension LiveClock {
    /// A scenario duration in wall time at `timeScale`, as the backend's settings and controls take
    /// it: ÷ the time scale, at least a millisecond. The one rule for the embedded backend's
    /// configuration and the live run's admin calls.
    public static func wall(_ ns: Nanoseconds, timeScale: Double) -> Nanoseconds {
        max(Time.millisecond, Nanoseconds(Double(ns) / timeScale))
    }

    /// A rate per scenario second as a rate per wall second at `timeScale`.
    public static func wallRate(_ perSecond: Double, timeScale: Double) -> Double { perSecond * timeScale }
}
