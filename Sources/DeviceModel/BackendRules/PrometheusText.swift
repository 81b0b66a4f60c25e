/// The names of the reference backend's `/metrics` series that the live runner reads into the
/// report's backend sample: the backend registers them, the live runner looks them up.
public enum BackendMetricName {
    public static let databaseBusyFraction = "fleetsim_backend_db_busy_fraction"
    public static let databaseWaitSeconds = "fleetsim_backend_db_wait_seconds"
    public static let memoryAnonymousBytes = "fleetsim_backend_memory_anonymous_bytes"
    public static let handshakesPending = "fleetsim_backend_handshakes_pending"
    public static let pendingMemoryBytes = "fleetsim_backend_handshakes_pending_memory_bytes"
    public static let crashesTotal = "fleetsim_backend_crashes_total"
    // The stated-cost database, by `kind` (indexed, scan, touch): what is stated, what was done.
    public static let databaseQuerySeconds = "fleetsim_backend_db_query_duration_seconds"
    public static let databaseStatedCostSeconds = "fleetsim_backend_db_stated_cost_seconds"
    public static let databasePaddingSecondsTotal = "fleetsim_backend_db_padding_seconds_total"
    public static let databaseSlowerTotal = "fleetsim_backend_db_slower_than_stated_total"
    public static let databaseSlowerSecondsTotal = "fleetsim_backend_db_slower_than_stated_seconds_total"
    public static let databaseSlowerStatedSecondsTotal = "fleetsim_backend_db_slower_than_stated_stated_seconds_total"
    public static let databaseProbeSeconds = "fleetsim_backend_db_probe_seconds"
    public static let databaseRows = "fleetsim_backend_db_rows"
    public static let databaseWorkers = "fleetsim_backend_db_workers"
}

/// The Prometheus text exposition format (version 0.0.4), read as far as a load test needs:
/// samples with their labels and values; `# HELP` / `# TYPE` lines and timestamps are skipped.
/// The one reader of it: the live runner scrapes with it, and the reference backend reads its own
/// counters back with it (swift-prometheus keeps no readable value outside its exposition).
public struct PrometheusText: Sendable, Equatable {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    public var samples: [Sample]

    public init(samples: [Sample] = []) { self.samples = samples }

    public init(parsing text: String) throws {
        var samples: [Sample] = []
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            var rest = line[...]
            let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " || $0 == "\t" } ?? rest.endIndex
            let name = String(rest[..<nameEnd])
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else {
                throw ParseError(line: lineNumber, message: "expected a metric name, got \"\(line.prefix(40))\"")
            }
            rest = rest[nameEnd...]
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while true {
                    rest = rest.drop { $0 == " " || $0 == "," }
                    if rest.first == "}" { rest = rest.dropFirst(); break }
                    guard let eq = rest.firstIndex(of: "=") else {
                        throw ParseError(line: lineNumber, message: "expected label=\"value\" in \(name)")
                    }
                    let key = String(rest[..<eq]).trimmingWhitespace()
                    rest = rest[rest.index(after: eq)...]
                    guard rest.first == "\"" else { throw ParseError(line: lineNumber, message: "label \(key) of \(name) has no quoted value") }
                    rest = rest.dropFirst()
                    var value = ""
                    var closed = false
                    while let c = rest.first {
                        rest = rest.dropFirst()
                        if c == "\\", let n = rest.first {
                            rest = rest.dropFirst()
                            value.append(n == "n" ? "\n" : n)
                        } else if c == "\"" {
                            closed = true
                            break
                        } else {
                            value.append(c)
                        }
                    }
                    guard closed else { throw ParseError(line: lineNumber, message: "unterminated label value in \(name)") }
                    labels[String(key)] = value
                }
            }
            let fields = rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first else { throw ParseError(line: lineNumber, message: "\(name) has no value") }
            let value: Double
            switch first {
            case "+Inf": value = .infinity
            case "-Inf": value = -.infinity
            case "NaN": value = .nan
            default:
                guard let v = Double(first) else { throw ParseError(line: lineNumber, message: "\(name): expected a number, got \"\(first)\"") }
                value = v
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        self.samples = samples
    }

    /// The sum of every sample of `name` (over label sets); nil when there is none.
    public func sum(_ name: String) -> Double? {
        var total = 0.0, found = false
        for s in samples where s.name == name { total += s.value; found = true }
        return found ? total : nil
    }

    public func max(_ name: String) -> Double? {
        samples.filter { $0.name == name }.map(\.value).max()
    }

    /// The value of the one sample of `name` with exactly these labels; nil when there is none.
    public func value(_ name: String, labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}
