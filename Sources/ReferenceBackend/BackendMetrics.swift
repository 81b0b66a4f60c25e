import DeviceModel
import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// How a device handshake (`hello` → `welcome`) ended.
public enum HandshakeOutcome: String, Sendable, CaseIterable {
    /// Known device, welcomed.
    case welcome
    /// Unknown device, inserted into the registry, welcomed.
    case registered
    /// Firmware on the block list (HTTP 403 or close 4003), before any database work.
    case blocked
    /// Turned away by admission control (HTTP 503 or close 1013).
    case admission
    /// The lookup finished after the device had gone: the database did the work for nobody.
    case abandoned
    /// The database failed (close 1011).
    case failed
    /// The lookup waited for a database worker past the queue timeout and never ran (close 1011).
    case queueTimeout = "queue_timeout"
}

/// Why the backend turned away a request, a message or a connection. Each has its HTTP status or
/// close code (see `DeviceSessionHandler` and `HTTPRouteHandler`) and a counter in `/metrics`.
public enum RejectCause: String, Sendable, CaseIterable {
    case blockedFirmware = "blocked_firmware"          // 403 / 4003
    case admissionRate = "admission_rate"              // 503 Retry-After
    case admissionPending = "admission_pending"        // 503 Retry-After / 1013
    case malformedJSON = "malformed_json"              // 1007
    case unknownType = "unknown_type"                  // 1008
    case protocolViolation = "protocol_violation"      // 1008 (heartbeat before welcome, second hello)
    case badHello = "bad_hello"                        // 1008 (missing or invalid uuid / firmware)
    case binaryFrame = "binary_frame"                  // 1003
    case fragmentedMessage = "fragmented_message"      // 1003
    case frameTooBig = "frame_too_big"                 // 1009
    case badFrame = "bad_frame"                        // 1002
    case helloTimeout = "hello_timeout"                // 4008
    case upgradeTimeout = "upgrade_timeout"            // HTTP 408
    case badUpgrade = "bad_upgrade"                    // HTTP 400 (e.g. missing Sec-WebSocket-Key)
    case badHTTP = "bad_http"                          // HTTP 400 from the parser
    case notFound = "not_found"                        // HTTP 404
    case unauthorized = "unauthorized"                 // HTTP 401 on /admin
    case databaseError = "database_error"              // 1011
    case faultHTTPError = "fault_http_error"           // the http-errors fault's status at upgrade (/admin/fault)
    case faultDatabaseError = "fault_db_error"         // the db-errors fault: 1011 after a lookup, or a heartbeat not acknowledged
}

/// The database query kinds timed in the latency histogram.
enum QueryKind: String, CaseIterable {
    case indexed, scan, register, touch
}

/// Every counter and gauge behind `/metrics`, in a swift-prometheus registry of this backend's own
/// (not `MetricsSystem.bootstrap`: tests and benchmarks run several backends in one process).
/// Counters and gauges are atomics, the histograms take swift-prometheus' lock per query. The
/// figures that are read from elsewhere (the database pool, memory, CPU, the pending count) are
/// set at scrape time by `BackendCore.renderMetrics()`. The only state kept here besides the
/// registry is the pending-handshake count, which admission control needs exactly.
final class BackendMetrics: Sendable {
    static let bucketBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    let registry = PrometheusCollectorRegistry()

    let connectionsOpen: Gauge
    let upgrades: Counter
    let handshakes: [HandshakeOutcome: Counter]
    let heartbeats: Counter
    let rejects: [RejectCause: Counter]
    let faultDelayed: Counter
    let queries: [QueryKind: ValueHistogram]
    /// The stated-cost database (`StatedQueryCosts`), by query kind: what is stated, the padding
    /// slept to honour it, and the queries that really took longer (with their real seconds).
    let statedCost: [QueryKind: Gauge]
    let padding: [QueryKind: Counter]
    let slower: [QueryKind: Counter]
    let slowerSeconds: [QueryKind: Counter]
    let slowerStatedSeconds: [QueryKind: Counter]
    /// The start-up probe's median real lookup, by kind, and the table's rows.
    let probe: [QueryKind: Gauge]
    let rows: Gauge
    let lastSeenWritten: Counter
    let crashes: Counter
    let restarts: Counter
    let listening: Gauge

    /// Handshakes waiting for the database: admission control compares it with its limit, so it is
    /// counted here exactly and only copied into the registry's gauge at scrape time.
    private let pending = NIOLockedValueBox(0)

    /// Scrape-time gauges and mirrored counters, set by `BackendCore.renderMetrics()`.
    struct ScrapeSeries: Sendable {
        let handshakesPending, pendingMemoryBytes: Gauge
        let faultActive: [FaultInjection.Kind: Gauge]
        let dbQueueLength, dbWorkers, dbWorkersBusy, dbBusyFraction, dbWait: Gauge
        let dbBusySeconds, dbWaitSecondsTotal, dbWaitCount: Counter
        let lastSeenPending, blockedRanges: Gauge
        let residentBytes, anonymousBytes: Gauge
        let cpuSeconds: Counter
    }
    let scrape: ScrapeSeries
    /// Serialises a scrape's updates with its emission: the mirrored counters are reset and set
    /// again, and two scrapes (or a scrape and `snapshot`) must not interleave.
    let scrapeLock = NIOLock()

    init(processLabels: [(String, String)]) {
        let r = registry
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            r.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            r.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }
        connectionsOpen = gauge("fleetsim_backend_connections_open", "WebSocket device connections open now.")
        upgrades = counter("fleetsim_backend_upgrades_total", "WebSocket upgrades completed.")
        handshakes = Dictionary(uniqueKeysWithValues: HandshakeOutcome.allCases.map {
            ($0, counter("fleetsim_backend_handshakes_total", "Device handshakes (hello) by outcome.", [("outcome", $0.rawValue)]))
        })
        let pendingGauge = gauge(BackendMetricName.handshakesPending, "Handshakes waiting for the database, including ones whose device has gone.")
        let pendingMemory = gauge(BackendMetricName.pendingMemoryBytes, "Memory held by handshakes waiting for the database (--pending-memory each, stated: the memory guard adds it to the anonymous memory).")
        heartbeats = counter("fleetsim_backend_heartbeats_total", "Heartbeats acknowledged.")
        rejects = Dictionary(uniqueKeysWithValues: RejectCause.allCases.map {
            ($0, counter("fleetsim_backend_rejects_total", "Requests, messages and connections turned away, by cause.", [("cause", $0.rawValue)]))
        })
        faultDelayed = counter("fleetsim_backend_fault_delayed_total", "Answers to a hello or a heartbeat sent late by the latency fault (/admin/fault).")
        let faultActive = Dictionary(uniqueKeysWithValues: FaultInjection.Kind.allCases.map {
            ($0, gauge("fleetsim_backend_fault_active", "1 while a fault injected by /admin/fault is on, by kind.", [("kind", $0.rawValue)]))
        })
        let queueLength = gauge("fleetsim_backend_db_queue_length", "Database jobs waiting for a worker.")
        let workers = gauge(BackendMetricName.databaseWorkers, "Database worker threads.")
        let workersBusy = gauge("fleetsim_backend_db_workers_busy", "Database workers running a job now.")
        let busyFraction = gauge(BackendMetricName.databaseBusyFraction, "Fraction of database worker time spent in queries over the last second.")
        let busySeconds = counter("fleetsim_backend_db_busy_seconds_total", "Worker-seconds spent in database jobs.")
        let wait = gauge(BackendMetricName.databaseWaitSeconds, "How long the oldest database job still in the queue has waited so far (0 when none waits).")
        let waitTotal = counter("fleetsim_backend_db_wait_seconds_total", "Seconds database jobs waited in the queue before a worker took them, summed over the jobs started.")
        let waitCount = counter("fleetsim_backend_db_wait_seconds_count", "Database jobs started (rate of _total over rate of _count: the mean queue wait).")
        let queryName = MetricNameDescriptor(metricName: BackendMetricName.databaseQuerySeconds, unitName: "",
                                             helpText: "Database query latency by kind (indexed lookup, scan lookup, register, last_seen batch).")
        queries = Dictionary(uniqueKeysWithValues: QueryKind.allCases.map {
            ($0, r.makeValueHistogram(descriptor: queryName, labels: [("kind", $0.rawValue)], buckets: BackendMetrics.bucketBounds))
        })
        let costed: [QueryKind] = [.indexed, .scan, .touch]
        func byKind<M>(_ make: (QueryKind) -> M) -> [QueryKind: M] {
            Dictionary(uniqueKeysWithValues: costed.map { ($0, make($0)) })
        }
        statedCost = byKind { gauge(BackendMetricName.databaseStatedCostSeconds, "Stated cost of one query by kind (touch: one last_seen update), in wall-clock seconds: a worker is held this long even when the real query is faster. 0: none stated.", [("kind", $0.rawValue)]) }
        padding = byKind { counter(BackendMetricName.databasePaddingSecondsTotal, "Seconds database workers are held beyond their real queries to honour the stated costs (stated − real; slept with the query or a few queries later), by kind.", [("kind", $0.rawValue)]) }
        slower = byKind { counter(BackendMetricName.databaseSlowerTotal, "Queries that really took longer than their stated cost (not shortened), by kind.", [("kind", $0.rawValue)]) }
        slowerSeconds = byKind { counter(BackendMetricName.databaseSlowerSecondsTotal, "Real seconds of the queries slower than their stated cost, by kind.", [("kind", $0.rawValue)]) }
        slowerStatedSeconds = byKind { counter(BackendMetricName.databaseSlowerStatedSecondsTotal, "Stated seconds of the queries slower than their stated cost, by kind (real over stated: how much slower).", [("kind", $0.rawValue)]) }
        probe = Dictionary(uniqueKeysWithValues: [QueryKind.indexed, .scan].map { kind in (kind, gauge(BackendMetricName.databaseProbeSeconds, "Median real lookup measured at start, before the listener opened, by kind (0: not measured).", [("kind", kind.rawValue)])) })
        rows = gauge(BackendMetricName.databaseRows, "Rows in the devices table when the backend started (what a scan reads).")
        let lastSeenPending = gauge("fleetsim_backend_last_seen_pending", "Heartbeat last_seen updates not yet written.")
        lastSeenWritten = counter("fleetsim_backend_last_seen_written_total", "last_seen updates written.")
        crashes = counter(BackendMetricName.crashesTotal, "Memory-guard crashes: every connection dropped, listener reopened after a delay.")
        restarts = counter("fleetsim_backend_restarts_total", "Listener restarts (after crashes and admin restarts).")
        listening = gauge("fleetsim_backend_listening", "1 while the device listener is open.")
        let blockedRanges = gauge("fleetsim_backend_blocked_ranges", "Firmware ranges on the block list.")
        gauge("fleetsim_backend_process_info", "This process (with --processes N, each answers /metrics for itself: scrape by pid).",
              processLabels).set(to: 1)
        let resident = gauge("process_resident_memory_bytes", "Resident memory of this process.")
        let anonymous = gauge(BackendMetricName.memoryAnonymousBytes, "Anonymous resident memory (the memory guard compares it, plus the pending handshakes' stated memory, with its limit).")
        let cpu = counter("process_cpu_seconds_total", "User and system CPU time of this process.")
        scrape = ScrapeSeries(handshakesPending: pendingGauge, pendingMemoryBytes: pendingMemory, faultActive: faultActive,
                              dbQueueLength: queueLength, dbWorkers: workers, dbWorkersBusy: workersBusy,
                              dbBusyFraction: busyFraction, dbWait: wait, dbBusySeconds: busySeconds,
                              dbWaitSecondsTotal: waitTotal, dbWaitCount: waitCount, lastSeenPending: lastSeenPending,
                              blockedRanges: blockedRanges, residentBytes: resident, anonymousBytes: anonymous, cpuSeconds: cpu)
    }

    func handshake(_ outcome: HandshakeOutcome) { handshakes[outcome]!.increment() }
    func reject(_ cause: RejectCause) { rejects[cause]!.increment() }
    func query(_ kind: QueryKind, seconds: Double) { queries[kind]!.record(seconds) }
    func heartbeat() { heartbeats.increment() }
    func stateCosts(_ costs: StatedQueryCosts) {
        for (kind, gauge) in statedCost { gauge.set(to: Double(costs.nanoseconds(kind) ?? 0) / 1e9) }
    }
    func padded(_ kind: QueryKind, seconds: Double) { padding[kind]?.increment(by: seconds) }
    func slowerThanStated(_ kind: QueryKind, realSeconds: Double, statedSeconds: Double) {
        slower[kind]?.increment()
        slowerSeconds[kind]?.increment(by: realSeconds)
        slowerStatedSeconds[kind]?.increment(by: statedSeconds)
    }
    func probed(_ probe: DatabaseProbe, rows count: Int) {
        self.probe[.scan]?.set(to: probe.scanSeconds)
        self.probe[.indexed]?.set(to: probe.indexedSeconds)
        rows.set(to: Double(count))
    }
    func connectionOpened() { connectionsOpen.increment(); upgrades.increment() }
    func connectionClosed() { connectionsOpen.decrement() }
    func answerDelayed() { faultDelayed.increment() }
    func lastSeenWritten(_ count: Int) { lastSeenWritten.increment(by: Int64(count)) }
    func crashed() { crashes.increment() }
    func restarted() { restarts.increment() }
    func setListening(_ on: Bool) { listening.set(to: on ? 1 : 0) }

    /// Tries to add a pending handshake under an optional limit; false when at the limit.
    func beginPending(limit: Int?) -> Bool {
        pending.withLockedValue {
            if let limit, $0 >= limit { return false }
            $0 += 1
            return true
        }
    }
    func endPending() { pending.withLockedValue { $0 -= 1 } }
    var pendingHandshakes: Int { pending.withLockedValue { $0 } }

    /// The registry's exposition; `refresh` sets the scrape-time series first, under the same lock.
    func emit(refresh: (ScrapeSeries) -> Void) -> String {
        scrapeLock.withLock {
            refresh(scrape)
            scrape.handshakesPending.set(to: Double(pendingHandshakes))
            return registry.emitToString()
        }
    }

    /// The counters, read back for `ReferenceBackend.stats` (tests and benchmarks). swift-prometheus
    /// keeps no readable value outside its exposition, so they are read from the registry's own
    /// lines (`name{labels} value`), looked up by the exact series this type registered. A zero
    /// count is absent, as `Stats` has always reported it.
    var snapshot: Snapshot {
        let text = scrapeLock.withLock { registry.emitToString() }
        // The registry wrote this text itself: it always parses.
        let m = (try? PrometheusText(parsing: text)) ?? PrometheusText()
        func count(_ name: String, _ labels: [String: String] = [:]) -> UInt64 { UInt64(m.value(name, labels: labels) ?? 0) }
        func nonZero<K: RawRepresentable & Hashable>(_ keys: [K], _ name: String, label: String) -> [K: UInt64]
            where K.RawValue == String {
            var counts: [K: UInt64] = [:]
            for key in keys {
                let n = count(name, [label: key.rawValue])
                if n > 0 { counts[key] = n }
            }
            return counts
        }
        return Snapshot(
            openConnections: Int(m.value("fleetsim_backend_connections_open") ?? 0),
            pendingHandshakes: pendingHandshakes,
            handshakes: nonZero(HandshakeOutcome.allCases, "fleetsim_backend_handshakes_total", label: "outcome"),
            rejects: nonZero(RejectCause.allCases, "fleetsim_backend_rejects_total", label: "cause"),
            heartbeats: count("fleetsim_backend_heartbeats_total"),
            queries: nonZero(QueryKind.allCases, "fleetsim_backend_db_query_duration_seconds_count", label: "kind")
                .mapValues { Snapshot.Queries(count: $0) },
            crashes: count(BackendMetricName.crashesTotal),
            restarts: count("fleetsim_backend_restarts_total"),
            listening: m.value("fleetsim_backend_listening") == 1)
    }

    struct Snapshot {
        struct Queries { var count: UInt64 }
        var openConnections: Int
        var pendingHandshakes: Int
        var handshakes: [HandshakeOutcome: UInt64]
        var rejects: [RejectCause: UInt64]
        var heartbeats: UInt64
        var queries: [QueryKind: Queries]
        var crashes: UInt64
        var restarts: UInt64
        var listening: Bool
    }
}

/// Process-wide figures read from `/proc`: resident memory and CPU time.
public enum ProcessStats {
    /// Resident set size in bytes (0 where `/proc` is unavailable).
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Anonymous resident memory in bytes (heap, stacks; not the mapped database file): what runs a
    /// process out of memory. Falls back to the resident set size where `/proc/self/status` lacks it.
    public static func anonymousBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return residentBytes() }
        for line in text.split(separator: "\n") where line.hasPrefix("RssAnon:") {
            let kb = line.dropFirst(8).trimmingCharacters(in: .whitespaces).split(separator: " ").first.flatMap { Int($0) }
            if let kb { return kb * 1024 }
        }
        return residentBytes()
    }

    /// User plus system CPU seconds used by this process.
    public static func cpuSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
