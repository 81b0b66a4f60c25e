import Foundation

/// How the registry finds a device by UUID.
public enum LookupKind: String, Sendable, CaseIterable {
    /// `WHERE uuid = ?` on the unique index: a few B-tree pages.
    case indexed
    /// `WHERE lower(uuid) = lower(?)`: SQLite cannot use the index, so it reads every row. This is the
    /// 2020 firmware's UUID handler, reproduced on purpose.
    case scan
}

/// Which lookup each firmware gets: an ordered list of rules, the first whose range contains the
/// device's firmware wins, and firmware no rule names gets `indexed`.
///
/// Written as `indexed`, `scan`, `scan:>=3.8.0-b3`, or several rules joined with `;`
/// (`scan:>=3.8.0-b3; indexed:*`).
public struct LookupPolicy: Sendable, Equatable, CustomStringConvertible {
    public struct Rule: Sendable, Equatable {
        public var kind: LookupKind
        /// nil: every firmware.
        public var range: FirmwareRange?
        public init(kind: LookupKind, range: FirmwareRange?) { self.kind = kind; self.range = range }
    }

    public var rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }

    public static let indexed = LookupPolicy(rules: [])

    public enum ParseError: Error, CustomStringConvertible {
        case empty
        case unknownKind(String)
        case badRange(String, FirmwareRange.ParseError)

        public var description: String {
            switch self {
            case .empty: return "expected a lookup strategy like \"indexed\" or \"scan:>=3.8.0-b3\", got an empty string"
            case .unknownKind(let k): return "expected \"indexed\" or \"scan\" (optionally followed by \":RANGE\"), got \"\(k)\""
            case .badRange(let r, let e): return "in \"\(r)\": \(e)"
            }
        }
    }

    public init(parsing text: String) throws {
        var rules: [Rule] = []
        for part in text.split(separator: ";") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let kindText: Substring
            var range: FirmwareRange?
            if let colon = trimmed.firstIndex(of: ":") {
                kindText = trimmed[..<colon]
                let rangeText = String(trimmed[trimmed.index(after: colon)...])
                do { range = try FirmwareRange(parsing: rangeText) } catch let e as FirmwareRange.ParseError {
                    throw ParseError.badRange(trimmed, e)
                }
            } else {
                kindText = Substring(trimmed)
            }
            guard let kind = LookupKind(rawValue: kindText.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw ParseError.unknownKind(String(kindText))
            }
            rules.append(Rule(kind: kind, range: range))
        }
        guard !rules.isEmpty else { throw ParseError.empty }
        self.rules = rules
    }

    public func kind(for firmware: FirmwareVersion) -> LookupKind {
        for rule in rules where rule.range?.contains(firmware) ?? true { return rule.kind }
        return .indexed
    }

    public var description: String {
        if rules.isEmpty { return "indexed" }
        return rules.map { rule in rule.range.map { "\(rule.kind.rawValue):\($0)" } ?? rule.kind.rawValue }.joined(separator: "; ")
    }
}
