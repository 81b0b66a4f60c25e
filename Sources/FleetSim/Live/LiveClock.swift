import DeviceModel
import NIOCore

/// Scenario time on the real clock: a live run's `now` is the wall time since its start times
/// `time_scale` (every scenario duration is divided by K in wall time; network and database
/// latency are not, so they cost K times more scenario time).
struct LiveClock: Sendable {
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
