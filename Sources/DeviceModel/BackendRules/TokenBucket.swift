/// A connect-rate token bucket: the one rule the simulation's backend model and the reference
/// backend both apply to admission control, so that a scenario's `connect_rate`/`burst` mean the
/// same thing in either world.
///
/// A pure value: time arrives as a parameter (nanoseconds on any monotonic clock), so it is tested
/// without sleeping and a simulation stays deterministic. It starts full.
public struct TokenBucket: Sendable, Equatable {
    /// Tokens added per second.
    public private(set) var rate: Double
    /// Most tokens the bucket holds: how many connects may arrive at once after a quiet period.
    public private(set) var burst: Double
    /// Tokens now (as of `last`).
    public private(set) var tokens: Double
    /// When `tokens` was last brought up to date.
    public private(set) var last: Nanoseconds

    /// The burst a configuration that names none gets: one second's worth of `rate`.
    public static func defaultBurst(rate: Double) -> Double { rate }

    public init(rate: Double, burst: Double, now: Nanoseconds) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now
    }

    /// Takes one token if there is one; false (and nothing taken) when there is none.
    ///
    /// The arithmetic is the simulation engine's, operation for operation: its reports stay
    /// bit-identical whichever copy of the bucket it runs.
    public mutating func take(now: Nanoseconds) -> Bool {
        tokens = min(burst, tokens + Double(now - last) / 1e9 * rate)
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// How long from `now` until `take` would succeed: 0 when a token is there already.
    public func timeUntilToken(now: Nanoseconds) -> Nanoseconds {
        let available = min(burst, tokens + Double(now - last) / 1e9 * rate)
        if available >= 1 { return 0 }
        guard rate > 0 else { return Nanoseconds.max }
        let seconds = (1 - available) / rate
        return Nanoseconds((seconds * 1e9).rounded(.up))
    }
}
