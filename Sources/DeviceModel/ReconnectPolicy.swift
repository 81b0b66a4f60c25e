/// How long a device waits before it tries to connect again.
///
/// The formulas are those of the AWS Architecture Blog post "Exponential Backoff And Jitter"
/// (Marc Brooker, 2015), with `attempt` counting from 0 for the first retry:
///
/// - `constant`: `base`
/// - `random`: uniform in `[min, max]`; what the 2020 devices did ("after a random timeout")
/// - `exponential`: `min(cap, base * 2^attempt)`
/// - `fullJitter`: `uniform(0, min(cap, base * 2^attempt))`
/// - `equalJitter`: `t/2 + uniform(0, t/2)` with `t = min(cap, base * 2^attempt)`
/// - `decorrelatedJitter`: `min(cap, uniform(base, previous * 3))`, starting from `previous = base`
public struct ReconnectPolicy: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case constant, random, exponential
        case fullJitter = "full-jitter"
        case equalJitter = "equal-jitter"
        case decorrelatedJitter = "decorrelated-jitter"
    }

    public var kind: Kind
    /// `constant`: the delay; `random`: the minimum; the exponential family: the base.
    public var base: Nanoseconds
    /// `random`: the maximum; the exponential family: the cap.
    public var cap: Nanoseconds
    /// Give up after this many consecutive failed attempts (`nil`: never).
    public var maxAttempts: Int?
    /// A connection that stayed up this long resets the attempt counter (`nil`: any successful
    /// handshake resets it).
    public var resetAfter: Nanoseconds?
    /// Wait at least as long as a server's `Retry-After` says.
    public var honourRetryAfter: Bool

    public init(kind: Kind, base: Nanoseconds, cap: Nanoseconds, maxAttempts: Int? = nil,
                resetAfter: Nanoseconds? = nil, honourRetryAfter: Bool = true) {
        self.kind = kind
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
        self.resetAfter = resetAfter
        self.honourRetryAfter = honourRetryAfter
    }

    /// The 2020 devices: a uniform random timeout between 1 s and 30 s, no memory of failures.
    public static let random1to30s = ReconnectPolicy(kind: .random, base: Time.second, cap: 30 * Time.second,
                                                     honourRetryAfter: false)

    /// The delay before retry number `attempt` (0-based). `previous` is the last delay this
    /// device used (for decorrelated jitter; pass 0 before the first retry).
    @inlinable
    public func delay(attempt: Int, previous: Nanoseconds, random: inout SeededRandom) -> Nanoseconds {
        switch kind {
        case .constant:
            return base
        case .random:
            return random.uniform(base, cap)
        case .exponential:
            return exponential(attempt)
        case .fullJitter:
            return random.uniform(0, exponential(attempt))
        case .equalJitter:
            let t = exponential(attempt)
            return t / 2 + random.uniform(0, t / 2)
        case .decorrelatedJitter:
            let last = previous > 0 ? previous : base
            let upper = last > Int64.max / 3 ? Int64.max : last * 3
            return min(cap, random.uniform(base, max(base, upper)))
        }
    }

    /// `min(cap, base * 2^attempt)` without overflow.
    @inlinable
    func exponential(_ attempt: Int) -> Nanoseconds {
        if attempt >= 62 || base <= 0 { return base <= 0 ? 0 : cap }
        let factor = Int64(1) << Int64(attempt)
        let (product, overflow) = base.multipliedReportingOverflow(by: factor)
        return overflow ? cap : min(cap, product)
    }
}
