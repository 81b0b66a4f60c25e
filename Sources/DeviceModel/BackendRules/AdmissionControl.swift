/// Admission control's settings: how fast the backend lets devices in, and how many handshakes
/// may wait for the database before new ones are turned away. The fix the 2020 backends lacked.
///
/// Shared by the simulation's backend model and the reference backend: one rule, one home.
public struct AdmissionPolicy: Sendable, Equatable {
    /// Connects admitted per second on average (the token bucket's refill rate); nil: no rate limit.
    public var connectRate: Double?
    /// Bucket size; nil: `TokenBucket.defaultBurst(rate:)`, one second's worth of `connectRate`.
    public var burst: Double?
    /// Handshakes in flight at or above which new connects are refused; nil: no limit.
    public var maxPending: Int?
    /// The Retry-After a refused device is given; nil: derived (see `AdmissionGate.admit`).
    public var retryAfter: Nanoseconds?

    public init(connectRate: Double? = nil, burst: Double? = nil, maxPending: Int? = nil, retryAfter: Nanoseconds? = nil) {
        self.connectRate = connectRate
        self.burst = burst
        self.maxPending = maxPending
        self.retryAfter = retryAfter
    }

    /// Nothing limited: every connect is admitted.
    public var isOff: Bool { connectRate == nil && maxPending == nil }

    /// The bucket size in effect.
    public var effectiveBurst: Double? { connectRate.map { burst ?? TokenBucket.defaultBurst(rate: $0) } }

    /// The Retry-After of a refusal for too many pending handshakes.
    public var pendingRetryAfter: Nanoseconds { retryAfter ?? Time.second }
}

/// Why admission control refused a connect.
public enum AdmissionRefusal: String, Sendable, Equatable {
    /// Too many handshakes already wait for the database.
    case pending
    /// The connect-rate bucket is empty.
    case rate
}

/// What admission control says to one connect.
public enum AdmissionVerdict: Equatable, Sendable {
    case admitted
    /// Turned away (HTTP 503 with Retry-After at upgrade, close 1013 after it).
    case refused(reason: AdmissionRefusal, retryAfter: Nanoseconds)
}

/// Admission control as a pure value: a policy and its token bucket. Time arrives as a parameter.
public struct AdmissionGate: Sendable {
    public private(set) var policy: AdmissionPolicy
    public private(set) var bucket: TokenBucket?

    public init(policy: AdmissionPolicy, now: Nanoseconds) {
        self.policy = policy
        bucket = policy.connectRate.map { TokenBucket(rate: $0, burst: policy.burst ?? TokenBucket.defaultBurst(rate: $0), now: now) }
    }

    /// Decides one connect, `pending` handshakes being in flight now.
    ///
    /// The pending limit comes first (`pending >= maxPending` refuses, and takes no token: a
    /// refused connect must not spend the rate of the ones behind it), then the bucket. A refusal's
    /// Retry-After is `policy.retryAfter` when set; otherwise 1 s for a pending refusal, and for a
    /// rate refusal the time until the next token, rounded up to whole seconds, at least 1 s.
    public mutating func admit(pending: Int, now: Nanoseconds) -> AdmissionVerdict {
        if let limit = policy.maxPending, pending >= limit {
            return .refused(reason: .pending, retryAfter: policy.pendingRetryAfter)
        }
        if bucket != nil, !bucket!.take(now: now) {
            if let fixed = policy.retryAfter { return .refused(reason: .rate, retryAfter: fixed) }
            let wait = bucket!.timeUntilToken(now: now)
            let seconds = max(1, (wait / Time.second) + (wait % Time.second == 0 ? 0 : 1))
            return .refused(reason: .rate, retryAfter: seconds * Time.second)
        }
        return .admitted
    }
}
