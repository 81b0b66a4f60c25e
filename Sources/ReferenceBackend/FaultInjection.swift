import DeviceModel
import Foundation

/// Faults injected at run time through `/admin/fault`: the live form of a scenario's
/// `http-errors`, `latency` and `db-errors` (the model's meaning, in `Simulation.FaultState`).
/// Each is off until turned on, and stays on until turned off: the live runner turns it off when
/// the scenario's `for` has elapsed.
///
/// - `http-errors`: this fraction of WebSocket upgrades is answered with `status` (and a
///   `Retry-After` when given) before admission control, as the model draws it before its gate.
/// - `latency`: the answer to a hello (after its lookup, while the handshake stays pending) and to
///   a heartbeat is sent `add` later, by the event loop's timer.
/// - `db-errors`: this fraction of the devices' database work fails: a lookup still runs (it costs
///   its time) and the device is closed with 1011; a heartbeat is not acknowledged.
public struct FaultInjection: Sendable, Equatable, CustomStringConvertible {
    public struct HTTPErrors: Sendable, Equatable {
        public var fraction: Double
        public var status: Int
        public var retryAfter: Nanoseconds?

        public init(fraction: Double, status: Int = 503, retryAfter: Nanoseconds? = nil) {
            self.fraction = fraction
            self.status = status
            self.retryAfter = retryAfter
        }
    }

    public enum Kind: String, Sendable, CaseIterable {
        case httpErrors = "http-errors", latency, dbErrors = "db-errors"
    }

    /// nil: off.
    public var httpErrors: HTTPErrors?
    /// Added before each answer to a hello or a heartbeat; nil: off.
    public var latency: Nanoseconds?
    /// Fraction of lookups and heartbeats that fail; nil: off.
    public var dbErrorFraction: Double?

    public init(httpErrors: HTTPErrors? = nil, latency: Nanoseconds? = nil, dbErrorFraction: Double? = nil) {
        self.httpErrors = httpErrors
        self.latency = latency
        self.dbErrorFraction = dbErrorFraction
    }

    public var isOff: Bool { !Kind.allCases.contains(where: isOn) }

    public func isOn(_ kind: Kind) -> Bool {
        switch kind {
        case .httpErrors: return httpErrors != nil
        case .latency: return latency != nil
        case .dbErrors: return dbErrorFraction != nil
        }
    }

    /// One line per kind, each a command `apply(parsing:)` reads back (the processes of
    /// `--processes N` exchange it).
    public var description: String {
        Kind.allCases.map(line).joined(separator: "\n")
    }

    func line(_ kind: Kind) -> String {
        switch kind {
        case .httpErrors:
            guard let h = httpErrors else { return "http-errors off" }
            return "http-errors fraction=\(AdmissionPolicy.number(h.fraction)) status=\(h.status)"
                + (h.retryAfter.map { " retry-after=\(Units.format(duration: $0))" } ?? "")
        case .latency:
            return latency.map { "latency add=\(Units.format(duration: $0))" } ?? "latency off"
        case .dbErrors:
            return dbErrorFraction.map { "db-errors fraction=\(AdmissionPolicy.number($0))" } ?? "db-errors off"
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let text: String
        public var description: String {
            "expected \"http-errors fraction=F [status=5xx] [retry-after=DURATION]\", \"latency add=DURATION\", "
                + "\"db-errors fraction=F\", \"KIND off\" or \"off\", got \"\(text)\""
        }
    }

    /// Applies commands, one per line: `http-errors fraction=0.3 status=503 retry-after=30s`,
    /// `latency add=2s`, `db-errors fraction=50%`, `KIND off`, or `off` (every fault). A fraction is
    /// written as a scenario writes it (`0.3`, `30%`); a fraction of 0 is off. Nothing is changed
    /// when a line is wrong.
    public mutating func apply(parsing text: String) throws {
        var next = self
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw ParseError(text: text) }
        for line in lines { try next.applyLine(line) }
        self = next
    }

    private mutating func applyLine(_ line: String) throws {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "&" || $0 == "\t" }).map(String.init)
        let bad = ParseError(text: line)
        if words == ["off"] { self = FaultInjection(); return }
        guard let first = words.first, let kind = Kind(rawValue: first), words.count >= 2 else { throw bad }
        if words.count == 2 && words[1] == "off" {
            switch kind {
            case .httpErrors: httpErrors = nil
            case .latency: latency = nil
            case .dbErrors: dbErrorFraction = nil
            }
            return
        }
        var values: [String: String] = [:]
        for word in words.dropFirst() {
            let kv = word.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, values[kv[0]] == nil else { throw bad }
            values[kv[0]] = kv[1]
        }
        func fraction() throws -> Double {
            guard let text = values.removeValue(forKey: "fraction"), let f = Units.fraction(text) else { throw bad }
            return f
        }
        func duration(_ key: String) throws -> Nanoseconds? {
            guard let text = values.removeValue(forKey: key) else { return nil }
            guard let ns = Units.duration(text) else { throw bad }
            return ns
        }
        switch kind {
        case .httpErrors:
            let f = try fraction()
            var status = 503
            if let s = values.removeValue(forKey: "status") {
                guard let n = Int(s), (400...599).contains(n) else { throw bad }
                status = n
            }
            let retryAfter = try duration("retry-after")
            guard values.isEmpty else { throw bad }
            httpErrors = f > 0 ? HTTPErrors(fraction: f, status: status, retryAfter: retryAfter) : nil
        case .latency:
            guard let add = try duration("add"), values.isEmpty else { throw bad }
            latency = add > 0 ? add : nil
        case .dbErrors:
            let f = try fraction()
            guard values.isEmpty else { throw bad }
            dbErrorFraction = f > 0 ? f : nil
        }
    }

    // MARK: Draws (each independent, as the model's per-attempt hash)

    /// The answer to this upgrade when `http-errors` refuses it.
    func refusesUpgrade() -> HTTPErrors? {
        guard let h = httpErrors, Self.draw(h.fraction) else { return nil }
        return h
    }

    /// Whether this lookup or heartbeat fails (`db-errors`).
    func failsQuery() -> Bool {
        guard let f = dbErrorFraction else { return false }
        return Self.draw(f)
    }

    private static func draw(_ fraction: Double) -> Bool {
        fraction >= 1 || Double.random(in: 0..<1) < fraction
    }
}
