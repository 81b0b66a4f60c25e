import DeviceModel
import Foundation

/// Admission control as `fleetsim backend` and `/admin/admission` write it: a DeviceModel
/// `AdmissionPolicy` (the rule the simulation applies too) with its text form.
public struct AdmissionLimits: Sendable, Equatable, CustomStringConvertible {
    /// The rule itself; the properties below read and write it.
    public var policy: AdmissionPolicy

    public init(policy: AdmissionPolicy) { self.policy = policy }

    public init(connectRate: Double? = nil, burst: Double? = nil, maxPendingHandshakes: Int? = nil, retryAfter: Nanoseconds? = nil) {
        policy = AdmissionPolicy(connectRate: connectRate, burst: burst, maxPending: maxPendingHandshakes, retryAfter: retryAfter)
    }

    /// Upgrades admitted per second, on average (token bucket refill rate); nil: no rate limit.
    public var connectRate: Double? {
        get { policy.connectRate }
        set { policy.connectRate = newValue }
    }
    /// Bucket size in effect: as given, or one second's worth of `connectRate`; nil without a rate.
    public var burst: Double? { policy.effectiveBurst }
    /// Handshakes waiting for the database at or beyond which new ones are turned away; nil: no limit.
    public var maxPendingHandshakes: Int? {
        get { policy.maxPending }
        set { policy.maxPending = newValue }
    }
    /// Retry-After given to refused devices; nil: derived from the bucket (rate) or 1 s (pending).
    public var retryAfter: Nanoseconds? {
        get { policy.retryAfter }
        set { policy.retryAfter = newValue }
    }

    public var isOff: Bool { policy.isOff }

    /// The text `init(parsing:)` reads back (the processes of `--processes N` exchange it).
    public var description: String {
        if isOff { return "off" }
        var parts: [String] = []
        if let r = policy.connectRate {
            parts.append("rate=\(Self.number(r))")
            if let b = policy.burst { parts.append("burst=\(Self.number(b))") }
        }
        if let p = policy.maxPending { parts.append("max-pending=\(p)") }
        if let t = policy.retryAfter { parts.append("retry-after=\(Self.duration(t))") }
        return parts.joined(separator: " ")
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    static func duration(_ ns: Nanoseconds) -> String { Units.format(duration: ns) }

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
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed == "off" { self.init(); return }
        var rate: Double?, burst: Double?, pending: Int?, retry: Nanoseconds?
        for item in trimmed.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "&" || $0 == "\n" }) {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw ParseError.bad(trimmed) }
            switch kv[0] {
            case "rate": guard let v = Double(kv[1]), v > 0, v.isFinite else { throw ParseError.bad(trimmed) }; rate = v
            case "burst": guard let v = Double(kv[1]), v >= 1, v.isFinite else { throw ParseError.bad(trimmed) }; burst = v
            case "max-pending": guard let v = Int(kv[1]), v > 0 else { throw ParseError.bad(trimmed) }; pending = v
            case "retry-after":
                guard let v = try? OptionParsing.duration(kv[1], flag: "retry-after") else { throw ParseError.bad(trimmed) }
                retry = v.nanoseconds
            default: throw ParseError.bad(trimmed)
            }
        }
        if rate == nil && pending == nil { throw ParseError.bad(trimmed) }
        if burst != nil && rate == nil { throw ParseError.bad(trimmed) }
        self.init(connectRate: rate, burst: burst, maxPendingHandshakes: pending, retryAfter: retry)
    }
}
