import Foundation

/// A parsed k6-style condition: `p99 < 500`, `p(95) <= 200`, `max < 5000`, `min > 0.95`,
/// `count == 0`, `value < 1800`, `avg < 40%`.
///
/// Grammar: `[aggregation] operator number[%]`. The aggregation may be left out for metrics that
/// are a single value (`recovery_s: ["< 1800"]`).
public struct ThresholdExpression: Equatable, Sendable {
    public enum Aggregation: Equatable, Hashable, Sendable, CustomStringConvertible {
        case value, count, sum, rate, min, max, avg, med, final
        /// A percentile, 0…100: `p99`, `p(99.9)`.
        case percentile(Double)

        public var description: String {
            switch self {
            case .percentile(let p): return "p(\(TextRenderer.format(p)))"
            case .value: return "value"
            case .count: return "count"
            case .sum: return "sum"
            case .rate: return "rate"
            case .min: return "min"
            case .max: return "max"
            case .avg: return "avg"
            case .med: return "med"
            case .final: return "final"
            }
        }

        /// Names as written; `mean` and `last` are accepted aliases.
        static let named: [String: Aggregation] = [
            "value": .value, "count": .count, "sum": .sum, "rate": .rate, "min": .min, "max": .max,
            "avg": .avg, "mean": .avg, "med": .med, "median": .med, "final": .final, "last": .final,
        ]
    }

    public enum Operator: String, CaseIterable, Sendable {
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "==", notEqual = "!="

        func holds(_ a: Double, _ b: Double) -> Bool {
            switch self {
            case .less: return a < b
            case .lessOrEqual: return a <= b
            case .greater: return a > b
            case .greaterOrEqual: return a >= b
            case .equal: return a == b
            case .notEqual: return a != b
            }
        }
    }

    /// nil: not written (the metric's single value).
    public var aggregation: Aggregation?
    public var comparison: Operator
    public var bound: Double

    public init(aggregation: Aggregation?, comparison: Operator, bound: Double) {
        self.aggregation = aggregation
        self.comparison = comparison
        self.bound = bound
    }

    static let example = "expected a condition like \"p99 < 500\", \"max < 5000\", \"min > 0.95\" or \"count == 0\""

    public static func parse(_ text: String) throws -> ThresholdExpression {
        let s = Array(text.trimmingCharacters(in: .whitespaces))
        var i = 0
        func skipSpaces() { while i < s.count && s[i] == " " { i += 1 } }

        // Aggregation: a word, optionally with a parenthesised argument (`p(95)`).
        var aggregation: Aggregation?
        var word = ""
        while i < s.count && (s[i].isLetter || s[i] == "_" || (!word.isEmpty && (s[i].isNumber || s[i] == "."))) {
            word.append(s[i]); i += 1
        }
        if !word.isEmpty {
            skipSpaces()
            var argument: String?
            if i < s.count && s[i] == "(" {
                guard let close = s[i...].firstIndex(of: ")") else {
                    throw ThresholdError("\"\(text)\": missing \")\" after \"\(word)(\"")
                }
                argument = String(s[(i + 1)..<close]).trimmingCharacters(in: .whitespaces)
                i = close + 1
            }
            aggregation = try parseAggregation(word.lowercased(), argument: argument, in: text)
        }

        skipSpaces()
        var op = ""
        while i < s.count && "<>=!".contains(s[i]) { op.append(s[i]); i += 1 }
        guard !op.isEmpty else {
            if word.isEmpty && i < s.count && (s[i].isNumber || s[i] == ".") {
                throw ThresholdError("\"\(text)\": \(example) (the comparison comes after the aggregation)")
            }
            throw ThresholdError("\"\(text)\": \(example)")
        }
        guard let comparison = Operator(rawValue: op) else {
            let hint = op == "=" ? "; did you mean \"==\"?" : op == "=<" ? "; did you mean \"<=\"?" : op == "=>" ? "; did you mean \">=\"?" : ""
            throw ThresholdError("\"\(text)\": unknown comparison \"\(op)\" (expected <, <=, >, >=, == or !=)\(hint)")
        }
        skipSpaces()
        var number = String(s[i...]).trimmingCharacters(in: .whitespaces)
        guard !number.isEmpty else { throw ThresholdError("\"\(text)\": expected a number after \"\(op)\"") }
        var scale = 1.0
        if number.hasSuffix("%") { number.removeLast(); scale = 0.01 }
        guard let value = Double(number.replacingOccurrences(of: "_", with: "")), value.isFinite,
              number.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) == true else {
            throw ThresholdError("\"\(text)\": expected a number after \"\(op)\", got \"\(String(s[i...]).trimmingCharacters(in: .whitespaces))\" (units are the metric's own: handshake_ms in milliseconds, recovery_s in seconds)")
        }
        return ThresholdExpression(aggregation: aggregation, comparison: comparison, bound: value * scale)
    }

    private static func parseAggregation(_ word: String, argument: String?, in text: String) throws -> Aggregation {
        if word == "p" {
            guard let argument, let p = Double(argument), p >= 0, p <= 100 else {
                throw ThresholdError("\"\(text)\": expected a percentile between 0 and 100 like p(95), got p(\(argument ?? ""))")
            }
            return .percentile(p)
        }
        if word.hasPrefix("p"), argument == nil, let p = Double(word.dropFirst()) {
            guard p >= 0, p <= 100 else {
                throw ThresholdError("\"\(text)\": expected a percentile between 0 and 100, got \(word)")
            }
            return .percentile(p)
        }
        if argument != nil { throw ThresholdError("\"\(text)\": only p(…) takes an argument") }
        guard let a = Aggregation.named[word] else {
            var message = "\"\(text)\": unknown aggregation \"\(word)\" (expected p99, p(95), min, max, avg, med, count, sum, rate, final or value)"
            if let close = closest(word, in: Array(Aggregation.named.keys) + ["p99", "p95", "p90", "p50"]) {
                message += "; did you mean \"\(close)\"?"
            }
            throw ThresholdError(message)
        }
        return a
    }

    /// A near miss by one or two edits.
    static func closest(_ word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(1, a.count) where !a.isEmpty {
                var previous = row[0]; row[0] = i
                for j in 1...max(1, b.count) where !b.isEmpty {
                    let old = row[j]
                    row[j] = Swift.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = old
                }
            }
            return row[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(word), Array($0))) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
    }
}
