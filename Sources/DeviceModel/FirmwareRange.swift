import Foundation

/// A set of firmware versions, written the way release engineers write them:
/// `>=3.8.0-b3`, `<3.8.0-b3`, `>=3.7 <3.9` (space means "and"), `3.8.x`, `3.8.0-b3` (exactly),
/// `*`, and alternatives joined with `||`.
///
/// Wildcards and partial versions include pre-releases of the versions they cover (`3.8.x` matches
/// `3.8.0-b3`): for a fleet, a beta of 3.8 is a 3.8 build. A range that can match nothing
/// (`>=3.9 <3.8`) is rejected at parse time, since it is always a typo in a scenario.
public struct FirmwareRange: Hashable, Sendable, CustomStringConvertible {
    /// One bound of an interval. `nil` version means unbounded.
    struct Bound: Hashable, Sendable {
        var version: FirmwareVersion
        var inclusive: Bool
    }
    /// A conjunction of comparators, reduced to one interval.
    struct Interval: Hashable, Sendable {
        var lower: Bound?
        var upper: Bound?

        func contains(_ v: FirmwareVersion) -> Bool {
            if let lower {
                if lower.inclusive ? v < lower.version : v <= lower.version { return false }
            }
            if let upper {
                if upper.inclusive ? v > upper.version : v >= upper.version { return false }
            }
            return true
        }

        var isEmpty: Bool {
            guard let lower, let upper else { return false }
            if lower.version > upper.version { return true }
            if lower.version == upper.version { return !(lower.inclusive && upper.inclusive) }
            return false
        }

        mutating func tighten(lower new: Bound) {
            guard let old = lower else { lower = new; return }
            if new.version > old.version || (new.version == old.version && !new.inclusive) { lower = new }
        }

        mutating func tighten(upper new: Bound) {
            guard let old = upper else { upper = new; return }
            if new.version < old.version || (new.version == old.version && !new.inclusive) { upper = new }
        }
    }

    /// The text as written, for messages and reports.
    public let text: String
    let alternatives: [Interval]

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case badComparator(String)
        case impossible(String)

        public var description: String {
            switch self {
            case .empty: return "expected a firmware range like \">=3.8.0-b3\", got an empty string"
            case .badComparator(let c):
                return "expected a firmware range like \">=3.8.0-b3\", \">=3.7 <3.9\" or \"3.8.x\", got \"\(c)\""
            case .impossible(let r): return "firmware range \"\(r)\" can never match: its lower bound is above its upper bound"
            }
        }
    }

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw ParseError.empty }
        var alternatives: [Interval] = []
        for alternative in trimmed.components(separatedBy: "||") {
            let comparators = alternative.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
            guard !comparators.isEmpty else { throw ParseError.badComparator(alternative) }
            var interval = Interval()
            for comparator in comparators {
                try FirmwareRange.apply(String(comparator), to: &interval)
            }
            if interval.isEmpty { throw ParseError.impossible(alternative.trimmingCharacters(in: .whitespaces)) }
            alternatives.append(interval)
        }
        self.text = trimmed
        self.alternatives = alternatives
    }

    /// Every version.
    public static let any = try! FirmwareRange(parsing: "*")

    public func contains(_ version: FirmwareVersion) -> Bool {
        for interval in alternatives where interval.contains(version) { return true }
        return false
    }

    public var description: String { text }

    public static func == (a: FirmwareRange, b: FirmwareRange) -> Bool { a.alternatives == b.alternatives }
    public func hash(into hasher: inout Hasher) { hasher.combine(alternatives) }

    /// The lowest version with the given numeric parts: `x.y.z-0` sorts below every pre-release.
    private static func floor(_ major: Int, _ minor: Int, _ patch: Int) -> FirmwareVersion {
        FirmwareVersion(major: major, minor: minor, patch: patch, prerelease: ["0"])
    }

    private static func apply(_ comparator: String, to interval: inout Interval) throws {
        if comparator == "*" || comparator == "x" || comparator == "X" { return }
        var op = ""
        var rest = Substring(comparator)
        for candidate in [">=", "<=", ">", "<", "=", "^", "~"] where rest.hasPrefix(candidate) {
            op = candidate
            rest = rest.dropFirst(candidate.count)
            break
        }
        let bad = ParseError.badComparator(comparator)
        // Wildcard forms: 3.8.x, 3.x, 3.8.*
        let pieces = rest.split(separator: ".", omittingEmptySubsequences: false)
        if let wild = pieces.firstIndex(where: { $0 == "x" || $0 == "X" || $0 == "*" }) {
            guard op.isEmpty || op == "=", wild > 0, pieces[wild...].allSatisfy({ $0 == "x" || $0 == "X" || $0 == "*" }),
                  let parsed = FirmwareVersion.parse(pieces[..<wild].joined(separator: "."), allowPartial: true),
                  parsed.version.prerelease.isEmpty
            else { throw bad }
            try applyPartial(parsed.version, parts: wild, to: &interval)
            return
        }
        guard let (version, parts) = FirmwareVersion.parse(String(rest), allowPartial: true) else { throw bad }
        let exactPre = !version.prerelease.isEmpty
        switch op {
        case ">=":
            interval.tighten(lower: Bound(version: exactPre || parts == 3 ? version : floor(version.major, version.minor, version.patch), inclusive: true))
        case ">":
            if parts == 3 || exactPre {
                interval.tighten(lower: Bound(version: version, inclusive: false))
            } else {
                // ">3.7" means above every 3.7 build.
                interval.tighten(lower: Bound(version: next(version, parts: parts), inclusive: true))
            }
        case "<":
            interval.tighten(upper: Bound(version: exactPre || parts == 3 ? version : floor(version.major, version.minor, version.patch), inclusive: false))
        case "<=":
            if parts == 3 || exactPre {
                interval.tighten(upper: Bound(version: version, inclusive: true))
            } else {
                interval.tighten(upper: Bound(version: next(version, parts: parts), inclusive: false))
            }
        case "", "=":
            if parts == 3 || exactPre {
                interval.tighten(lower: Bound(version: version, inclusive: true))
                interval.tighten(upper: Bound(version: version, inclusive: true))
            } else {
                try applyPartial(version, parts: parts, to: &interval)
            }
        case "^":
            let upper = version.major > 0 ? floor(version.major + 1, 0, 0)
                : (version.minor > 0 ? floor(0, version.minor + 1, 0) : floor(0, 0, version.patch + 1))
            interval.tighten(lower: Bound(version: exactPre ? version : floor(version.major, version.minor, version.patch), inclusive: true))
            interval.tighten(upper: Bound(version: upper, inclusive: false))
        case "~":
            interval.tighten(lower: Bound(version: exactPre ? version : floor(version.major, version.minor, version.patch), inclusive: true))
            interval.tighten(upper: Bound(version: parts == 1 ? floor(version.major + 1, 0, 0) : floor(version.major, version.minor + 1, 0), inclusive: false))
        default:
            throw bad
        }
    }

    private static func next(_ v: FirmwareVersion, parts: Int) -> FirmwareVersion {
        switch parts {
        case 1: return floor(v.major + 1, 0, 0)
        case 2: return floor(v.major, v.minor + 1, 0)
        default: return floor(v.major, v.minor, v.patch + 1)
        }
    }

    private static func applyPartial(_ v: FirmwareVersion, parts: Int, to interval: inout Interval) throws {
        interval.tighten(lower: Bound(version: floor(v.major, v.minor, v.patch), inclusive: true))
        interval.tighten(upper: Bound(version: next(v, parts: parts), inclusive: false))
    }
}
