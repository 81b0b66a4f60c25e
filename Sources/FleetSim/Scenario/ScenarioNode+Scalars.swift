import DeviceModel
import Yams

/// The typed readers of a scalar node: each returns the value or throws a `ScenarioError` saying what
/// was expected and what was found.
extension ScenarioNode {
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
        guard let n = ScenarioNode.parseInteger(s) else { throw expected(what) }
        guard n >= minimum else { throw error("expected \(what), got \(n)") }
        return n
    }

    func integer(in range: ClosedRange<Int>) throws -> Int {
        let what = "a whole number from \(range.lowerBound) to \(range.upperBound)"
        let s = try text(expected: what)
        guard let n = ScenarioNode.parseInteger(s) else { throw expected(what) }
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
        let what = "a number >= \(ScenarioNode.format(minimum))"
        let s = try text(expected: what)
        guard let n = Double(s.trimmingWhitespace().filter { $0 != "_" }), n.isFinite else { throw expected(what) }
        guard n >= minimum else { throw error("expected \(what), got \(ScenarioNode.format(n))") }
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
        let s = try text(expected: ScenarioNode.durationExample)
        guard let ns = Units.duration(s) else { throw expected(ScenarioNode.durationExample) }
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
        let what = ScenarioNode.list(choices, quoted: false)
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
}
