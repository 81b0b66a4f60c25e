import DeviceModel
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

    /// A byte size, as a scenario file writes it (DeviceModel's `Units.bytes`): `4096`, `64KiB`,
    /// `512MiB`, `2GiB` (powers of 1024), `512MB`, `10kB` (powers of 1000). Must be above 0.
    public static func size(_ text: String, flag: String) throws -> Int {
        if let n = Units.bytes(text), n > 0, n <= Int64(Int.max) { return Int(n) }
        throw InvalidOption(flag: flag, message: "expected a size like \"512MiB\" or \"2GiB\", got \"\(text)\"")
    }

    /// A duration, as a scenario file writes it (DeviceModel's `Units.duration`): `250ms`, `5s`,
    /// `2m`, `1m30s`, `1.5s`, `1h`.
    public static func duration(_ text: String, flag: String) throws -> TimeAmount {
        if let ns = Units.duration(text) { return .nanoseconds(ns) }
        throw InvalidOption(flag: flag, message: "expected a duration like \"250ms\", \"5s\" or \"1m30s\", got \"\(text)\"")
    }

    /// A positive count: `100000`, `100_000`, `100k`, `1M`.
    public static func count(_ text: String, flag: String, allowZero: Bool = false) throws -> Int {
        var t = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        var factor = 1
        if t.hasSuffix("k") || t.hasSuffix("K") { factor = 1_000; t.removeLast() } else if t.hasSuffix("M") { factor = 1_000_000; t.removeLast() }
        if let n = Int(t), n > 0 || (allowZero && n == 0), n <= Int.max / factor { return n * factor }
        throw InvalidOption(flag: flag, message: "expected a \(allowZero ? "non-negative" : "positive") whole number like \"100000\" or \"1M\", got \"\(text)\"")
    }

    /// A rate, as a scenario file writes it (DeviceModel's `Units.rate`), in events per second:
    /// `200`, `200/s`, `12000/m`, `1.5`. Must be above 0.
    public static func rate(_ text: String, flag: String) throws -> Double {
        if let n = Units.rate(text), n > 0, n.isFinite { return n }
        throw InvalidOption(flag: flag, message: "expected connections per second like \"200\", \"200/s\" or \"12000/m\", got \"\(text)\"")
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

extension OptionParsing {
    /// The devices of a roster file (`--roster FILE`), each listed once (the registry's uuid index is
    /// unique); errors name the flag and the file's line and column.
    public static func roster(_ path: String, flag: String) throws -> [DeviceRoster.Entry] {
        let entries: [DeviceRoster.Entry]
        do { entries = try DeviceRoster(contentsOf: path).entries } catch let error as DeviceRoster.ParseError {
            throw OptionParsing.InvalidOption(flag: flag, message: "\(error)")
        }
        guard !entries.isEmpty else {
            throw OptionParsing.InvalidOption(flag: flag, message: "\(path):1:1: no devices (expected uuid,firmware lines)")
        }
        var seen = Set<DeviceUUID>()
        for entry in entries where !seen.insert(entry.uuid).inserted {
            // The registry's uuid index is unique: find the second line naming it for the message.
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let needle = entry.uuid.description
            var line = 0, count = 0, column = 1
            for (n, l) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" }).enumerated() {
                if let r = l.lowercased().range(of: needle) {
                    count += 1
                    if count == 2 { line = n + 1; column = l.lowercased().distance(from: l.lowercased().startIndex, to: r.lowerBound) + 1; break }
                }
            }
            throw OptionParsing.InvalidOption(flag: flag, message: "\(path):\(max(line, 1)):\(column): device \(needle) is listed twice")
        }
        return entries
    }
}
