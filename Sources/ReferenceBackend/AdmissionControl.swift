/// Limits on how fast the backend lets devices in: the fix the 2020 backends did not have.
public struct AdmissionLimits: Sendable, Equatable, CustomStringConvertible {
    /// Upgrades admitted per second, on average (token bucket refill rate); nil: no rate limit.
    public var connectRate: Double?
    /// Bucket size: how many upgrades may arrive at once after a quiet period.
    public var burst: Int
    /// Handshakes waiting for the database beyond which new ones are turned away; nil: no limit.
    public var maxPendingHandshakes: Int?

    public init(connectRate: Double? = nil, burst: Int? = nil, maxPendingHandshakes: Int? = nil) {
        self.connectRate = connectRate
        self.burst = burst ?? max(1, Int((connectRate ?? 1).rounded(.up)))
        self.maxPendingHandshakes = maxPendingHandshakes
    }

    public var isOff: Bool { connectRate == nil && maxPendingHandshakes == nil }

    public var description: String {
        if isOff { return "off" }
        var parts: [String] = []
        if let r = connectRate { parts.append("rate=\(r) burst=\(burst)") }
        if let p = maxPendingHandshakes { parts.append("max-pending=\(p)") }
        return parts.joined(separator: " ")
    }

    public enum ParseError: Error, CustomStringConvertible {
        case bad(String)
        public var description: String {
            switch self {
            case .bad(let s): return "expected \"off\" or \"rate=N [burst=N] [max-pending=N]\", got \"\(s)\""
            }
        }
    }

    /// Parses `off` or `rate=200 burst=400 max-pending=100` (any subset, any order).
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed == "off" { self.init(); return }
        var rate: Double?, burst: Int?, pending: Int?
        for item in trimmed.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "&" || $0 == "\n" }) {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw ParseError.bad(trimmed) }
            switch kv[0] {
            case "rate": guard let v = Double(kv[1]), v > 0, v.isFinite else { throw ParseError.bad(trimmed) }; rate = v
            case "burst": guard let v = Int(kv[1]), v > 0 else { throw ParseError.bad(trimmed) }; burst = v
            case "max-pending": guard let v = Int(kv[1]), v > 0 else { throw ParseError.bad(trimmed) }; pending = v
            default: throw ParseError.bad(trimmed)
            }
        }
        if rate == nil && pending == nil { throw ParseError.bad(trimmed) }
        self.init(connectRate: rate, burst: burst, maxPendingHandshakes: pending)
    }
}

/// A connect-rate token bucket. A pure value: time arrives as a parameter (seconds on any
/// monotonic clock), so it is tested without sleeping.
struct TokenBucket: Sendable {
    private(set) var rate: Double
    private(set) var capacity: Double
    private var tokens: Double
    private var last: Double?

    init(rate: Double, burst: Int) {
        self.rate = rate
        self.capacity = Double(burst)
        self.tokens = Double(burst)
    }

    /// Takes one token if there is one. Otherwise returns how long until one is available.
    mutating func take(now: Double) -> (admitted: Bool, retryAfter: Double) {
        if let last { tokens = min(capacity, tokens + (now - last) * rate) }
        last = now
        if tokens >= 1 - 1e-9 {
            tokens = max(0, tokens - 1)
            return (true, 0)
        }
        return (false, (1 - tokens) / rate)
    }
}
