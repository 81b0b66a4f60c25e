/// Termination signals (SIGINT, SIGTERM) counted as requests: the first asks a command to stop
/// cleanly, a second one to stop at once.
///
/// The same signal again within `window` of the request it repeats is that request, not a new
/// one: `timeout(1)` (without `--foreground`) sends its signal to its child and then to its
/// process group, so the child receives it twice within microseconds, and a supervisor may repeat
/// itself; neither is a user asking twice. A deliberate second Ctrl-C comes a moment later
/// (a second or so) and still counts. Time is passed in (monotonic nanoseconds), so the rule is
/// tested with plain values.
public struct SignalRequests: Sendable {
    /// How close a repeat of the same signal must be to count as the same request.
    public static let window: Int64 = 500_000_000

    private var last: (signal: Int32, at: Int64)?
    /// Requests so far.
    public private(set) var count = 0

    public init() {}

    /// The number of the request `signal` makes (1 for the first), or nil when it repeats the last
    /// request within `window`.
    public mutating func receive(_ signal: Int32, at now: Int64) -> Int? {
        if let last, last.signal == signal, now - last.at < Self.window { return nil }
        last = (signal, now)
        count += 1
        return count
    }
}
