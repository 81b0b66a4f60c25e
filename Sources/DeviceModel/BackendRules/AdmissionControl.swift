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

// MARK: - Text form

extension AdmissionPolicy: CustomStringConvertible {
    /// The one text form of admission control: what `fleetsim backend --admission`,
    /// `/admin/admission` and the live runner's `set-admission` exchange, and what
    /// `init(parsing:)` reads back. `off`, or `rate=N [burst=N] [max-pending=N] [retry-after=D]`.
    public var description: String {
        if isOff { return "off" }
        var parts: [String] = []
        if let r = connectRate {
            parts.append("rate=\(Self.number(r))")
            if let b = burst { parts.append("burst=\(Self.number(b))") }
        }
        if let p = maxPending { parts.append("max-pending=\(p)") }
        if let t = retryAfter { parts.append("retry-after=\(Units.format(duration: t))") }
        return parts.joined(separator: " ")
    }

    /// A number as the text form writes it: whole numbers without a decimal point.
    public static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    public enum ParseError: Error, CustomStringConvertible {
        case bad(String)
        public var description: String {
            switch self {
            case .bad(let s): return "expected \"off\" or \"rate=N [burst=N] [max-pending=N] [retry-after=DURATION]\", got \"\(s)\""
            }
        }
    }

    /// Parses `off` or `rate=200 burst=400 max-pending=100 retry-after=30s` (any subset with a rate
    /// or a pending limit, any order).
    public init(parsing text: String) throws {
        let trimmed = String(text.trimmingWhitespace())
        if trimmed == "off" { self.init(); return }
        var rate: Double?, burst: Double?, pending: Int?, retry: Nanoseconds?
        for item in trimmed.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "&" || $0 == "\n" }) {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw ParseError.bad(trimmed) }
            switch kv[0] {
            case "rate": guard let v = Double(kv[1]), v > 0, v.isFinite else { throw ParseError.bad(trimmed) }; rate = v
            case "burst": guard let v = Double(kv[1]), v >= 1, v.isFinite else { throw ParseError.bad(trimmed) }; burst = v
            case "max-pending": guard let v = Int(kv[1]), v > 0 else { throw ParseError.bad(trimmed) }; pending = v
            case "retry-after": guard let v = Units.duration(kv[1]) else { throw ParseError.bad(trimmed) }; retry = v
            default: throw ParseError.bad(trimmed)
            }
        }
        if rate == nil && pending == nil { throw ParseError.bad(trimmed) }
        if burst != nil && rate == nil { throw ParseError.bad(trimmed) }
        self.init(connectRate: rate, burst: burst, maxPending: pending, retryAfter: retry)
    }

    /// These settings for a backend running at `timeScale` scenario seconds per wall second: the
    /// rate × the scale, the Retry-After ÷ the scale (at least 1 ms), the burst rounded up to
    /// whole tokens, the pending limit as it is. A live run sends this to the backend, so that a
    /// refused device waits the scenario's Retry-After, as in the simulation.
    public func scaled(timeScale: Double) -> AdmissionPolicy {
        AdmissionPolicy(connectRate: connectRate.map { $0 * timeScale }, burst: burst.map { $0.rounded(.up) }, maxPending: maxPending,
                        retryAfter: retryAfter.map { max(Time.millisecond, Nanoseconds(Double($0) / timeScale)) })
    }
}
