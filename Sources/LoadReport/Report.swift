import Foundation
import Histogram

/// A run's result: the `fleetsim.report/1` contract of DESIGN.md.
///
/// Other tools and CI gates read these keys, so the JSON names are stable: add keys, never rename.
public struct Report: Codable, Sendable {
    public static let schemaName = "fleetsim.report/1"

    public var schema: String = Report.schemaName
    /// `simulate` or `live`.
    public var mode: String
    public var scenario: String
    public var seed: UInt64
    /// Wall-clock label of t = 0 when the scenario gives one (e.g. an incident's date).
    public var clockStart: String?
    /// Set when the run did not complete (interrupted, failed midway): what was measured is kept.
    public var incomplete: String?
    /// The shard of the fleet this run drove (`i/n`, `fleetsim run --shard`); nil: the whole fleet.
    public var shard: String?
    public var summary: Summary
    public var storm: Storm
    public var milestones: [Milestone]
    public var series: Series
    public var thresholds: [ThresholdResult]
    /// Full latency distributions, so that shard reports merge exactly.
    public var histograms: Histograms
    /// A live run's database against its stated costs (reference backends only); nil otherwise.
    public var database: DatabaseCosts?

    public init(mode: String, scenario: String, seed: UInt64, clockStart: String?, summary: Summary,
                storm: Storm, milestones: [Milestone], series: Series, thresholds: [ThresholdResult],
                histograms: Histograms) {
        self.mode = mode
        self.scenario = scenario
        self.seed = seed
        self.clockStart = clockStart
        self.summary = summary
        self.storm = storm
        self.milestones = milestones
        self.series = series
        self.thresholds = thresholds
        self.histograms = histograms
    }

    enum CodingKeys: String, CodingKey {
        case schema, mode, scenario, seed, incomplete, shard, summary, storm, milestones, series, thresholds, histograms, database
        case clockStart = "clock_start"
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var devices: Int
        public var durationS: Double
        public var onlineFractionMin: Double
        public var onlineFractionFinal: Double
        public var connectAttempts: Int
        public var connects: Int
        public var disconnects: Int
        public var handshakeTimeouts: Int
        public var ackTimeouts: Int
        public var rejects: Int
        public var backendCrashes: Int
        /// From the last mitigation to recovered; nil when the fleet never collapsed or never recovered.
        public var recoveryS: Double?
        public var handshakeMs: Percentiles
        public var dbUtilizationMax: Double
        public var dbUtilizationMean: Double
        public var backendMemoryPeakBytes: Int64
        public var eventsProcessed: UInt64?
        public var wallS: Double?
        /// Connect attempts that failed at name resolution; nil (no key) when there were none,
        /// so that the reports of runs without a DNS failure are what they were.
        public var dnsFailures: Int?
        /// Error replies to devices' messages that did not end a session (`feature-failure`);
        /// nil (no key) when there were none.
        public var featureErrors: Int?
        /// A live run's online sessions lost, by cause (`closed.1011`, `reset`, `eof`,
        /// `timeout.ack`, `session.end`, `dropped`, …); nil in a simulation.
        public var disconnectsByCause: [String: Int]?
        /// A live run's connect attempts that did not bring the device online, by cause
        /// (`http.503`, `rejected`, `timeout.handshake`, `timeout.connect`, `dns`, `refused`, …);
        /// nil in a simulation. The rejects are those of `http.*` and `rejected`.
        public var failedConnectsByCause: [String: Int]?

        public init(devices: Int, durationS: Double, onlineFractionMin: Double, onlineFractionFinal: Double,
                    connectAttempts: Int, connects: Int, disconnects: Int, handshakeTimeouts: Int,
                    ackTimeouts: Int, rejects: Int, backendCrashes: Int, recoveryS: Double?,
                    handshakeMs: Percentiles, dbUtilizationMax: Double, dbUtilizationMean: Double,
                    backendMemoryPeakBytes: Int64, eventsProcessed: UInt64?, wallS: Double?) {
            self.devices = devices
            self.durationS = durationS
            self.onlineFractionMin = onlineFractionMin
            self.onlineFractionFinal = onlineFractionFinal
            self.connectAttempts = connectAttempts
            self.connects = connects
            self.disconnects = disconnects
            self.handshakeTimeouts = handshakeTimeouts
            self.ackTimeouts = ackTimeouts
            self.rejects = rejects
            self.backendCrashes = backendCrashes
            self.recoveryS = recoveryS
            self.handshakeMs = handshakeMs
            self.dbUtilizationMax = dbUtilizationMax
            self.dbUtilizationMean = dbUtilizationMean
            self.backendMemoryPeakBytes = backendMemoryPeakBytes
            self.eventsProcessed = eventsProcessed
            self.wallS = wallS
        }

        enum CodingKeys: String, CodingKey {
            case devices
            case durationS = "duration_s"
            case onlineFractionMin = "online_fraction_min"
            case onlineFractionFinal = "online_fraction_final"
            case connectAttempts = "connect_attempts"
            case connects, disconnects
            case handshakeTimeouts = "handshake_timeouts"
            case ackTimeouts = "ack_timeouts"
            case rejects
            case backendCrashes = "backend_crashes"
            case recoveryS = "recovery_s"
            case handshakeMs = "handshake_ms"
            case dbUtilizationMax = "db_utilization_max"
            case dbUtilizationMean = "db_utilization_mean"
            case backendMemoryPeakBytes = "backend_memory_peak_bytes"
            case eventsProcessed = "events_processed"
            case wallS = "wall_s"
            case dnsFailures = "dns_failures"
            case featureErrors = "feature_errors"
            case disconnectsByCause = "disconnects_by_cause"
            case failedConnectsByCause = "failed_connects_by_cause"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(devices, forKey: .devices)
            try c.encode(durationS, forKey: .durationS)
            try c.encode(onlineFractionMin, forKey: .onlineFractionMin)
            try c.encode(onlineFractionFinal, forKey: .onlineFractionFinal)
            try c.encode(connectAttempts, forKey: .connectAttempts)
            try c.encode(connects, forKey: .connects)
            try c.encode(disconnects, forKey: .disconnects)
            try c.encode(handshakeTimeouts, forKey: .handshakeTimeouts)
            try c.encode(ackTimeouts, forKey: .ackTimeouts)
            try c.encode(rejects, forKey: .rejects)
            try c.encode(backendCrashes, forKey: .backendCrashes)
            try c.encode(recoveryS, forKey: .recoveryS)   // explicit null: the contract names the key
            try c.encode(handshakeMs, forKey: .handshakeMs)
            try c.encode(dbUtilizationMax, forKey: .dbUtilizationMax)
            try c.encode(dbUtilizationMean, forKey: .dbUtilizationMean)
            try c.encode(backendMemoryPeakBytes, forKey: .backendMemoryPeakBytes)
            try c.encodeIfPresent(eventsProcessed, forKey: .eventsProcessed)
            try c.encodeIfPresent(wallS, forKey: .wallS)
            try c.encodeIfPresent(dnsFailures, forKey: .dnsFailures)
            try c.encodeIfPresent(featureErrors, forKey: .featureErrors)
            try c.encodeIfPresent(disconnectsByCause, forKey: .disconnectsByCause)
            try c.encodeIfPresent(failedConnectsByCause, forKey: .failedConnectsByCause)
        }
    }

    /// Latency percentiles in milliseconds; nil when nothing was measured.
    public struct Percentiles: Codable, Sendable, Equatable {
        public var count: UInt64
        public var p50: Double?
        public var p90: Double?
        public var p99: Double?
        public var max: Double?

        public init(count: UInt64, p50: Double?, p90: Double?, p99: Double?, max: Double?) {
            self.count = count
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.max = max
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(count, forKey: .count)
            try c.encode(p50, forKey: .p50)
            try c.encode(p90, forKey: .p90)
            try c.encode(p99, forKey: .p99)
            try c.encode(max, forKey: .max)
        }
    }

    /// Reconnect-storm metrics.
    public struct Storm: Codable, Sendable, Equatable {
        /// Connect attempts per successful connect (1.0 = no retries).
        public var retryAmplification: Double?
        /// Highest connect-attempt rate over any one second of the run.
        public var peakReconnectRatePerS: Double
        /// Mass disconnects (a crash, a restart, a network event) and how fast the dropped devices came back.
        public var massDisconnects: [MassDisconnect]
        public var timeTo50PctSMedian: Double?
        public var timeTo95PctSMedian: Double?

        public init(retryAmplification: Double?, peakReconnectRatePerS: Double, massDisconnects: [MassDisconnect],
                    timeTo50PctSMedian: Double?, timeTo95PctSMedian: Double?) {
            self.retryAmplification = retryAmplification
            self.peakReconnectRatePerS = peakReconnectRatePerS
            self.massDisconnects = massDisconnects
            self.timeTo50PctSMedian = timeTo50PctSMedian
            self.timeTo95PctSMedian = timeTo95PctSMedian
        }

        enum CodingKeys: String, CodingKey {
            case retryAmplification = "retry_amplification"
            case peakReconnectRatePerS = "peak_reconnect_rate_per_s"
            case massDisconnects = "mass_disconnects"
            case timeTo50PctSMedian = "time_to_50pct_s_median"
            case timeTo95PctSMedian = "time_to_95pct_s_median"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(retryAmplification, forKey: .retryAmplification)
            try c.encode(peakReconnectRatePerS, forKey: .peakReconnectRatePerS)
            try c.encode(massDisconnects, forKey: .massDisconnects)
            try c.encode(timeTo50PctSMedian, forKey: .timeTo50PctSMedian)
            try c.encode(timeTo95PctSMedian, forKey: .timeTo95PctSMedian)
        }
    }

    public struct MassDisconnect: Codable, Sendable, Equatable {
        public var tS: Double
        public var cause: String
        public var devices: Int
        /// Seconds until 50% / 95% of the dropped devices were online again; nil: not reached.
        public var to50PctS: Double?
        public var to95PctS: Double?

        public init(tS: Double, cause: String, devices: Int, to50PctS: Double?, to95PctS: Double?) {
            self.tS = tS
            self.cause = cause
            self.devices = devices
            self.to50PctS = to50PctS
            self.to95PctS = to95PctS
        }

        enum CodingKeys: String, CodingKey {
            case tS = "t_s", cause, devices
            case to50PctS = "to_50pct_s"
            case to95PctS = "to_95pct_s"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(tS, forKey: .tS)
            try c.encode(cause, forKey: .cause)
            try c.encode(devices, forKey: .devices)
            try c.encode(to50PctS, forKey: .to50PctS)
            try c.encode(to95PctS, forKey: .to95PctS)
        }
    }

    public struct Milestone: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable, CaseIterable {
            case timeline
            case dbSaturated = "db_saturated"
            case timeouts
            case reconnectStorm = "reconnect_storm"
            case backendCrash = "backend_crash"
            case fleetCollapse = "fleet_collapse"
            case rebound
            case recovered
        }

        public var tS: Double
        public var kind: Kind
        public var detail: String
        /// A timeline milestone that counts what its effect did on this process's devices (sessions
        /// dropped, devices removed, error replies): `detail` with `{0}`, `{1}`… where the
        /// `counts` go. Shards of one run record one each, and a merge adds their counts
        /// (`ReportMerge`). Nil for every other milestone (and in simulation reports).
        public var template: String?
        public var counts: [Int]?

        public init(tS: Double, kind: Kind, detail: String, template: String? = nil, counts: [Int]? = nil) {
            self.tS = tS
            self.kind = kind
            self.detail = detail
            self.template = template
            self.counts = counts
        }

        /// `template` with `{k}` replaced by `counts[k]`.
        public static func fill(_ template: String, _ counts: [Int]) -> String {
            var out = template
            for (k, n) in counts.enumerated().reversed() { out = out.replacingOccurrences(of: "{\(k)}", with: String(n)) }
            return out
        }

        enum CodingKeys: String, CodingKey {
            case tS = "t_s", kind, detail, template, counts
        }
    }

    /// Per-interval time series; every array has one value per interval, at its end time `tS`.
    public struct Series: Codable, Sendable, Equatable {
        public var intervalS: Double
        public var tS: [Double] = []
        /// Online devices among the eligible ones.
        public var online: [Int] = []
        /// Devices that are present and allowed to connect (joined, firmware not blocked).
        public var eligible: [Int] = []
        public var connects: [Int] = []
        public var disconnects: [Int] = []
        public var connectAttempts: [Int] = []
        public var handshakeTimeouts: [Int] = []
        public var ackTimeouts: [Int] = []
        public var rejects: [Int] = []
        public var crashes: [Int] = []
        public var dbUtilization: [Double] = []
        /// How long a query arriving at the end of the interval would wait for a database core.
        public var dbWaitS: [Double] = []
        public var pendingHandshakes: [Int] = []
        public var backendMemoryBytes: [Int64] = []
        public var handshakeP50Ms: [Double?] = []
        public var handshakeP99Ms: [Double?] = []

        public init(intervalS: Double) { self.intervalS = intervalS }

        enum CodingKeys: String, CodingKey {
            case intervalS = "interval_s", tS = "t_s", online, eligible, connects, disconnects
            case connectAttempts = "connect_attempts"
            case handshakeTimeouts = "handshake_timeouts"
            case ackTimeouts = "ack_timeouts"
            case rejects, crashes
            case dbUtilization = "db_utilization"
            case dbWaitS = "db_wait_s"
            case pendingHandshakes = "pending_handshakes"
            case backendMemoryBytes = "backend_memory_bytes"
            case handshakeP50Ms = "handshake_p50_ms"
            case handshakeP99Ms = "handshake_p99_ms"
        }

        public var count: Int { tS.count }
    }

    public struct ThresholdResult: Codable, Sendable, Equatable {
        public var metric: String
        public var expression: String
        /// The measured value; nil until evaluated.
        public var value: Double?
        /// nil: not evaluated.
        public var ok: Bool?

        public init(metric: String, expression: String, value: Double? = nil, ok: Bool? = nil) {
            self.metric = metric
            self.expression = expression
            self.value = value
            self.ok = ok
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(metric, forKey: .metric)
            try c.encode(expression, forKey: .expression)
            try c.encode(value, forKey: .value)
            try c.encode(ok, forKey: .ok)
        }

        enum CodingKeys: String, CodingKey { case metric, expression, value, ok }
    }

    public struct Histograms: Codable, Sendable {
        /// Handshake latency in microseconds (connect start to welcome).
        public var handshakeUs: Histogram<UInt64>
        /// A live run's handshakes per interval of the series (the samples behind
        /// `series.handshake_p50_ms` and `_p99_ms`), so that shard reports merge their interval
        /// percentiles exactly; nil in a simulation's report.
        public var handshakeUsByInterval: [LatencyRecorder.Buckets]?
        /// A live run's connect attempts in each scenario second that had any, `[second, count]`,
        /// so that a merge of shards finds the fleet's busiest second exactly (the peak reconnect
        /// rate); nil in a simulation's report.
        public var connectAttemptsBySecond: [[Int64]]?

        public init(handshakeUs: Histogram<UInt64>, byInterval: [LatencyRecorder.Buckets]? = nil, attemptsBySecond: [[Int64]]? = nil) {
            self.handshakeUs = handshakeUs
            handshakeUsByInterval = byInterval
            connectAttemptsBySecond = attemptsBySecond
        }

        enum CodingKeys: String, CodingKey {
            case handshakeUs = "handshake_us", handshakeUsByInterval = "handshake_us_by_interval"
            case connectAttemptsBySecond = "connect_attempts_by_second"
        }
    }

    /// The JSON text, keys sorted so that equal reports give equal bytes.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }
}
