import Foundation
import NIOConcurrencyHelpers

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

/// Every counter and gauge behind `/metrics`. One lock: each update is a few nanoseconds of work,
/// far below what a handshake costs.
final class BackendMetrics: @unchecked Sendable {  // every mutable field is protected by `lock`
    static let bucketBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    struct Histogram {
        var buckets = [UInt64](repeating: 0, count: BackendMetrics.bucketBounds.count)
        var count: UInt64 = 0
        var sum: Double = 0
        mutating func record(_ seconds: Double) {
            count += 1; sum += seconds
            if let i = BackendMetrics.bucketBounds.firstIndex(where: { seconds <= $0 }) { buckets[i] += 1 }
        }
    }

    struct State {
        var openConnections = 0
        var pendingHandshakes = 0
        var handshakes = [HandshakeOutcome: UInt64]()
        var rejects = [RejectCause: UInt64]()
        var heartbeats: UInt64 = 0
        var queries = [QueryKind: Histogram]()
        var crashes: UInt64 = 0
        var restarts: UInt64 = 0
        var lastSeenWritten: UInt64 = 0
        var listening = false
        var upgrades: UInt64 = 0
        /// Answers (to a hello or a heartbeat) the latency fault delayed.
        var faultDelayed: UInt64 = 0
    }

    private let lock = NIOLock()
    private var state = State()

    func withState<T>(_ body: (inout State) -> T) -> T { lock.withLock { body(&state) } }
    var snapshot: State { lock.withLock { state } }

    func handshake(_ outcome: HandshakeOutcome) { lock.withLock { state.handshakes[outcome, default: 0] += 1 } }
    func reject(_ cause: RejectCause) { lock.withLock { state.rejects[cause, default: 0] += 1 } }
    func query(_ kind: QueryKind, seconds: Double) { lock.withLock { state.queries[kind, default: Histogram()].record(seconds) } }
    func heartbeat() { lock.withLock { state.heartbeats += 1 } }
    func connectionOpened() { lock.withLock { state.openConnections += 1; state.upgrades += 1 } }
    func connectionClosed() { lock.withLock { state.openConnections -= 1 } }

    /// Tries to add a pending handshake under an optional limit; false when at the limit.
    func beginPending(limit: Int?) -> Bool {
        lock.withLock {
            if let limit, state.pendingHandshakes >= limit { return false }
            state.pendingHandshakes += 1
            return true
        }
    }
    func endPending() { lock.withLock { state.pendingHandshakes -= 1 } }
    var pendingHandshakes: Int { lock.withLock { state.pendingHandshakes } }
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
