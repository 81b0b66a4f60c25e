import DeviceModel
import Yams

/// A field's address in a scenario, printed the way `--set` paths are written: `fleet[1].heartbeat`.
struct FieldPath: Hashable, CustomStringConvertible {
    enum Component: Hashable {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    static let root = FieldPath()

    func key(_ name: String) -> FieldPath { FieldPath(components: components + [.key(name)]) }
    func index(_ i: Int) -> FieldPath { FieldPath(components: components + [.index(i)]) }

    func hasPrefix(_ other: FieldPath) -> Bool {
        components.count >= other.components.count && Array(components.prefix(other.components.count)) == other.components
    }

    var description: String {
        var out = ""
        for component in components {
            switch component {
            case .key(let name): out += out.isEmpty ? name : ".\(name)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }
}

/// Where nodes came from, so that every error can say `file:line:column` or `--set argument`.
struct SourceContext {
    /// The scenario's path as the user gave it (used in messages and to resolve relative paths).
    var file: String
    /// Fields replaced by `--set`, in the order applied: errors at or below one point to it.
    var overrides: [(path: FieldPath, argument: String)] = []

    func origin(of path: FieldPath, mark: Mark?) -> ScenarioError.Origin {
        if let override = overrides.last(where: { path.hasPrefix($0.path) }) {
            return .override(override.argument)
        }
        return .file(file, line: mark?.line, column: mark?.column)
    }

    func error(_ message: String, at path: FieldPath, mark: Mark?) -> ScenarioError {
        ScenarioError(origin: origin(of: path, mark: mark), field: path.description, message: message)
    }
}

/// A node of the scenario's YAML tree together with its path, with typed readers that throw
/// `ScenarioError`s pointing at the node.
struct Value {
    var node: Node
    var path: FieldPath
    var context: SourceContext

    var mark: Mark? { node.mark }

    func error(_ message: String) -> ScenarioError { context.error(message, at: path, mark: mark) }

    var isNull: Bool {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// How the node reads in a "got …" clause.
    var got: String {
        switch node {
        case .scalar(let s):
            if isNull { return "nothing" }
            return "\"\(s.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func expected(_ what: String) -> ScenarioError { error("expected \(what), got \(got)") }

    // MARK: Scalars

    /// The scalar's text as written (YAML's `3.7` stays "3.7", not 3.7000000000000002).
    func text(expected what: String) throws -> String {
        guard case .scalar(let s) = node, !isNull else { throw expected(what) }
        return s.string
    }

    func string() throws -> String {
        let s = try text(expected: "a text")
        guard !s.trimmingWhitespace().isEmpty else { throw error("expected a text, got an empty one") }
        return s
    }

    func integer(atLeast minimum: Int) throws -> Int {
        let what = "a whole number >= \(minimum)"
        let s = try text(expected: what)
        guard let n = Value.parseInteger(s) else { throw expected(what) }
        guard n >= minimum else { throw error("expected \(what), got \(n)") }
        return n
    }

    func integer(in range: ClosedRange<Int>) throws -> Int {
        let what = "a whole number from \(range.lowerBound) to \(range.upperBound)"
        let s = try text(expected: what)
        guard let n = Value.parseInteger(s) else { throw expected(what) }
        guard range.contains(n) else { throw error("expected \(what), got \(n)") }
        return n
    }

    func uint64() throws -> UInt64 {
        let what = "a whole number >= 0"
        let s = try text(expected: what)
        let digits = s.trimmingWhitespace().filter { $0 != "_" }
        if let n = UInt64(digits) { return n }
        if let n = Int64(digits), n < 0 { throw error("expected \(what), got \(n)") }
        throw expected(what)
    }

    static func parseInteger(_ s: String) -> Int? {
        let digits = s.trimmingWhitespace().filter { $0 != "_" }
        return Int(digits.hasPrefix("+") ? String(digits.dropFirst()) : digits)
    }

    func number(atLeast minimum: Double) throws -> Double {
        let what = "a number >= \(Value.format(minimum))"
        let s = try text(expected: what)
        guard let n = Double(s.trimmingWhitespace().filter { $0 != "_" }), n.isFinite else { throw expected(what) }
        guard n >= minimum else { throw error("expected \(what), got \(Value.format(n))") }
        return n
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    func bool() throws -> Bool {
        let what = "true or false"
        switch try text(expected: what).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw expected(what)
        }
    }

    static let durationExample = "a duration like \"30s\""

    func duration() throws -> Nanoseconds {
        let s = try text(expected: Value.durationExample)
        guard let ns = Units.duration(s) else { throw expected(Value.durationExample) }
        return ns
    }

    func positiveDuration() throws -> Nanoseconds {
        let ns = try duration()
        guard ns > 0 else { throw error("expected a duration > 0, got \(got)") }
        return ns
    }

    /// A duration, or nil for `none` (or an empty value).
    func durationOrNone(positive: Bool = true) throws -> Nanoseconds? {
        let what = "a duration like \"30s\" or none"
        if isNull { return nil }
        let s = try text(expected: what)
        if s.trimmingWhitespace().lowercased() == "none" { return nil }
        guard let ns = Units.duration(s) else { throw expected(what) }
        if positive && ns == 0 { throw error("expected a duration > 0 or none, got \(got)") }
        return ns
    }

    func bytes() throws -> Int64 {
        let what = "a size like \"64KiB\" or \"2GiB\""
        guard let n = Units.bytes(try text(expected: what)) else { throw expected(what) }
        return n
    }

    func fraction() throws -> Double {
        let what = "a fraction like \"25%\" or 0.25 (from 0 to 1)"
        guard let f = Units.fraction(try text(expected: what)) else { throw expected(what) }
        return f
    }

    func rate() throws -> Double {
        let what = "a rate like \"200/s\" or \"12000/m\""
        guard let r = Units.rate(try text(expected: what)) else { throw expected(what) }
        return r
    }

    /// One of a fixed set of words, with a suggestion for a near miss.
    func choice(_ choices: [String]) throws -> String {
        let what = Value.list(choices, quoted: false)
        let s = try text(expected: what)
        if choices.contains(s) { return s }
        var message = "expected \(what), got \"\(s)\""
        if let suggestion = Suggestion.closest(to: s, in: choices) { message += "; did you mean \"\(suggestion)\"?" }
        throw error(message)
    }

    static func list(_ words: [String], quoted: Bool, conjunction: String = "or") -> String {
        let ws = quoted ? words.map { "\"\($0)\"" } : words
        switch ws.count {
        case 0: return ""
        case 1: return ws[0]
        case 2: return "\(ws[0]) \(conjunction) \(ws[1])"
        default: return ws.dropLast().joined(separator: ", ") + " \(conjunction) " + ws.last!
        }
    }

    // MARK: Collections

    func sequence() throws -> [Value] {
        guard case .sequence(let seq) = node else { throw expected("a list") }
        return seq.enumerated().map { Value(node: $0.element, path: path.index($0.offset), context: context) }
    }

    /// A mapping whose keys must be among `keys` (or `aliases`, which name a key of `keys`).
    /// Keys starting with `ignoringPrefix` are skipped (the top level's `x-` keys, a place for anchors).
    func mapping(keys: [String], aliases: [String: String] = [:], ignoringPrefix: String? = nil,
                 what: String = "a mapping") throws -> MappingValue {
        guard case .mapping(let m) = node else { throw expected(what) }
        return try MappingValue(mapping: m, value: self, keys: keys, aliases: aliases, ignoringPrefix: ignoringPrefix)
    }

    /// A mapping with arbitrary names as keys (profiles, thresholds), in document order.
    func entries(what: String = "a mapping") throws -> [(key: String, keyMark: Mark?, value: Value)] {
        guard case .mapping(let m) = node else { throw expected(what) }
        var out: [(key: String, keyMark: Mark?, value: Value)] = []
        for (keyNode, valueNode) in MappingValue.flattened(m) {
            guard case .scalar(let k) = keyNode else {
                throw context.error("keys must be names, got \(Value(node: keyNode, path: path, context: context).got)",
                                    at: path, mark: keyNode.mark)
            }
            out.append((k.string, keyNode.mark, Value(node: valueNode, path: path.key(k.string), context: context)))
        }
        return out
    }
}

/// A mapping checked for unknown keys, read key by key.
struct MappingValue {
    let value: Value
    private var values: [String: Value] = [:]
    /// The keys present, in document order (canonical names, aliases resolved).
    private(set) var presentKeys: [String] = []
    private var keyMarks: [String: Mark] = [:]

    init(mapping: Node.Mapping, value: Value, keys: [String], aliases: [String: String], ignoringPrefix: String?) throws {
        self.value = value
        for (keyNode, valueNode) in MappingValue.flattened(mapping) {
            guard case .scalar(let k) = keyNode else {
                throw value.context.error("keys must be names, got \(Value(node: keyNode, path: value.path, context: value.context).got)",
                                          at: value.path, mark: keyNode.mark)
            }
            if let prefix = ignoringPrefix, k.string.hasPrefix(prefix) { continue }
            let name = aliases[k.string] ?? k.string
            let keyPath = value.path.key(k.string)
            guard keys.contains(name) else {
                var message = "unknown key"
                if let suggestion = Suggestion.closest(to: k.string, in: keys) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else {
                    message += " (expected one of: \(keys.joined(separator: ", ")))"
                }
                throw value.context.error(message, at: keyPath, mark: keyNode.mark)
            }
            if values[name] != nil {
                // Only reachable through an alias (YAML itself rejects a repeated key).
                throw value.context.error("given twice (as \"\(name)\" and as an alias)", at: keyPath, mark: keyNode.mark)
            }
            values[name] = Value(node: valueNode, path: value.path.key(name), context: value.context)
            presentKeys.append(name)
            keyMarks[name] = keyNode.mark
        }
    }

    /// The mapping's pairs with YAML merge keys (`<<: *defaults`) expanded; explicit keys win.
    static func flattened(_ mapping: Node.Mapping) -> [(Node, Node)] {
        var explicit: [(Node, Node)] = []
        var merged: [(Node, Node)] = []
        for (key, value) in mapping {
            if case .scalar(let k) = key, k.string == "<<", k.style == .plain || k.style == .any {
                switch value {
                case .mapping(let m): merged += flattened(m)
                case .sequence(let s): for case .mapping(let m) in s { merged += flattened(m) }
                default: explicit.append((key, value))
                }
            } else {
                explicit.append((key, value))
            }
        }
        let explicitKeys = Set(explicit.compactMap { $0.0.scalar?.string })
        var seen = Set<String>()
        let inherited = merged.filter { pair in
            guard let k = pair.0.scalar?.string else { return false }
            return !explicitKeys.contains(k) && seen.insert(k).inserted
        }
        return inherited + explicit
    }

    var path: FieldPath { value.path }
    var mark: Mark? { value.mark }

    subscript(key: String) -> Value? {
        values[key]
    }

    func has(_ key: String) -> Bool { values[key] != nil }

    /// Where key `key` is written (for errors about the key itself rather than its value).
    func keyMark(_ key: String) -> Mark? { keyMarks[key] }

    func required(_ key: String) throws -> Value {
        guard let v = values[key] else {
            throw value.context.error("missing required key \"\(key)\"", at: value.path, mark: value.mark)
        }
        return v
    }
}

/// "Did you mean …?" for near misses: an edit distance of at most 2 (counting a swap of two
/// neighbours as one edit), or one word a prefix of the other.
enum Suggestion {
    static func closest(to typed: String, in candidates: [String]) -> String? {
        let t = normalized(typed)
        guard !t.isEmpty else { return nil }
        var best: (String, Int)?
        for candidate in candidates {
            let c = normalized(candidate)
            var d = distance(t, c)
            if d > 2 || d >= t.count {
                guard t.count >= 2, c.starts(with: t) || t.starts(with: c) else { continue }
                d = 3
            }
            if best == nil || d < best!.1 { best = (candidate, d) }
        }
        return best?.0
    }

    private static func normalized(_ s: String) -> [Character] {
        Array(s.lowercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
