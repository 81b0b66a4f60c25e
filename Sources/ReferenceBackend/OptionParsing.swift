import Foundation
import NIOCore

/// Parsing of the human units `fleetsim backend` takes (`512MiB`, `250ms`, `1M` rows), with errors
/// that name the flag: the command line reports them on one line and exits 2.
public enum OptionParsing {
    public struct InvalidOption: Error, CustomStringConvertible, Equatable {
        public let flag: String
        public let message: String
        public init(flag: String, message: String) { self.flag = flag; self.message = message }
        public var description: String { "\(flag): \(message)" }
    }

    /// A byte size: `4096`, `64KiB`, `512MiB`, `2GiB` (also `KB`/`MB`/`GB` as powers of 1000, `K`/`M`/`G` as powers of 1024).
    public static func size(_ text: String, flag: String) throws -> Int {
        let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
                                         ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("K", 1024), ("M", 1_048_576), ("G", 1_073_741_824),
                                         ("B", 1)]
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            if let n = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n > 0, n.isFinite, n * factor < 9e18 {
                return Int(n * factor)
            }
            break
        }
        if let n = Int(t), n > 0 { return n }
        throw InvalidOption(flag: flag, message: "expected a size like \"512MiB\" or \"2GiB\", got \"\(text)\"")
    }

    /// A duration: `250ms`, `5s`, `2m`, `1h`, `1.5s`.
    public static func duration(_ text: String, flag: String) throws -> TimeAmount {
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, nanos) in [("ms", 1e6), ("us", 1e3), ("s", 1e9), ("m", 60e9), ("h", 3600e9)] where t.hasSuffix(suffix) {
            if let n = Double(t.dropLast(suffix.count)), n >= 0, n.isFinite, n * nanos < 9e18 { return .nanoseconds(Int64(n * nanos)) }
            break
        }
        throw InvalidOption(flag: flag, message: "expected a duration like \"250ms\", \"5s\" or \"2m\", got \"\(text)\"")
    }

    /// A positive count: `100000`, `100_000`, `100k`, `1M`.
    public static func count(_ text: String, flag: String, allowZero: Bool = false) throws -> Int {
        var t = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        var factor = 1
        if t.hasSuffix("k") || t.hasSuffix("K") { factor = 1_000; t.removeLast() } else if t.hasSuffix("M") { factor = 1_000_000; t.removeLast() }
        if let n = Int(t), n > 0 || (allowZero && n == 0), n <= Int.max / factor { return n * factor }
        throw InvalidOption(flag: flag, message: "expected a \(allowZero ? "non-negative" : "positive") whole number like \"100000\" or \"1M\", got \"\(text)\"")
    }

    /// A rate per second: `200`, `200/s`, `1.5`.
    public static func rate(_ text: String, flag: String) throws -> Double {
        var t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("/s") { t.removeLast(2) }
        if let n = Double(t), n > 0, n.isFinite { return n }
        throw InvalidOption(flag: flag, message: "expected connections per second like \"200\" or \"200/s\", got \"\(text)\"")
    }
}

extension OptionParsing {
    /// A listen address: `HOST`, `HOST:PORT`, `[IPV6]:PORT`, `[IPV6]` or a bare IPv6 literal
    /// (`::1`, which has no port: write `[::1]:8080` to give one). Returns the host without brackets.
    public static func listenAddress(_ text: String, flag: String) throws -> (host: String, port: Int?) {
        let t = text.trimmingCharacters(in: .whitespaces)
        func bad(_ why: String) -> InvalidOption {
            InvalidOption(flag: flag, message: "expected HOST, HOST:PORT or [IPV6]:PORT like \"127.0.0.1:8080\" or \"[::1]:8080\", got \"\(text)\" (\(why))")
        }
        func port(_ p: Substring) throws -> Int {
            guard let n = Int(p), (0...65535).contains(n), !p.hasPrefix("+") else { throw bad("the port must be 0…65535") }
            return n
        }
        guard !t.isEmpty else { throw bad("empty") }
        guard !t.contains(where: { $0.isWhitespace || $0 == "/" }) else { throw bad("no spaces or slashes") }
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]") else { throw bad("no closing \"]\"") }
            let host = t[t.index(after: t.startIndex)..<close]
            guard host.contains(":") else { throw bad("brackets are for IPv6 addresses") }
            let rest = t[t.index(after: close)...]
            if rest.isEmpty { return (String(host), nil) }
            guard rest.hasPrefix(":") else { throw bad("expected \":PORT\" after \"]\"") }
            return (String(host), try port(rest.dropFirst()))
        }
        let colons = t.filter { $0 == ":" }.count
        if colons == 0 { return (t, nil) }
        if colons > 1 { return (t, nil) } // a bare IPv6 literal
        let parts = t.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard !parts[0].isEmpty else { throw bad("no host before \":\"") }
        return (String(parts[0]), try port(parts[1]))
    }
}
