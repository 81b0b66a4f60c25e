import DeviceModel
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The state every connection of one backend shares: configuration, counters, controls that can
/// change at runtime, and the database pool.
final class BackendCore: @unchecked Sendable {
    let configuration: ReferenceBackendConfiguration
    let metrics = BackendMetrics()
    let blockList: BlockList
    let lastSeen = LastSeenBatcher()
    let adminToken: String
    /// Set once by `ReferenceBackend.start()` before the listener opens.
    var database: DatabaseWorkerPool!
    /// Admin "restart": wired by `ReferenceBackend`.
    var restartHandler: (@Sendable () -> Void)?

    private let lookup: NIOLockedValueBox<LookupPolicy>
    private let admission: NIOLockedValueBox<(limits: AdmissionLimits, bucket: TokenBucket?)>
    private let listeningBox = NIOLockedValueBox(false)
    private let busyFractionBox = NIOLockedValueBox(0.0)
    private let channels = NIOLockedValueBox([ObjectIdentifier: Channel]())

    init(configuration: ReferenceBackendConfiguration) {
        self.configuration = configuration
        blockList = BlockList(configuration.blockedFirmware)
        lookup = NIOLockedValueBox(configuration.lookup)
        admission = NIOLockedValueBox((configuration.admission, BackendCore.bucket(for: configuration.admission)))
        adminToken = configuration.adminToken ?? BackendCore.generateToken()
    }

    static func generateToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(g.next() as UInt64, radix: 16) }.joined()
    }

    static func unixNow() -> Int64 { Int64(Date().timeIntervalSince1970) }
    static func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    private static func bucket(for limits: AdmissionLimits) -> TokenBucket? {
        limits.connectRate.map { TokenBucket(rate: $0, burst: limits.burst) }
    }

    // MARK: runtime controls

    var lookupPolicy: LookupPolicy {
        get { lookup.withLockedValue { $0 } }
        set { lookup.withLockedValue { $0 = newValue } }
    }

    var admissionLimits: AdmissionLimits {
        get { admission.withLockedValue { $0.limits } }
        set { admission.withLockedValue { $0 = (newValue, BackendCore.bucket(for: newValue)) } }
    }

    var isListening: Bool {
        get { listeningBox.withLockedValue { $0 } }
        set { listeningBox.withLockedValue { $0 = newValue }; metrics.withState { $0.listening = newValue } }
    }

    var busyFraction: Double {
        get { busyFractionBox.withLockedValue { $0 } }
        set { busyFractionBox.withLockedValue { $0 = newValue } }
    }

    /// Admission control at upgrade time: the connect-rate bucket, then the pending-handshake limit.
    func admitUpgrade() -> UpgradeRejection? {
        let (limits, verdict) = admission.withLockedValue { state -> (AdmissionLimits, (Bool, Double)?) in
            guard state.bucket != nil else { return (state.limits, nil) }
            return (state.limits, state.bucket!.take(now: BackendCore.monotonicSeconds()))
        }
        if let (admitted, retry) = verdict, !admitted {
            return .admission(cause: .admissionRate, retryAfter: max(1, Int(retry.rounded(.up))))
        }
        if let max = limits.maxPendingHandshakes, metrics.pendingHandshakes >= max {
            return .admission(cause: .admissionPending, retryAfter: 1)
        }
        return nil
    }

    // MARK: connections (for crashes and restarts)

    func track(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.channels.withLockedValue { $0.removeValue(forKey: id) }
        }
    }

    /// Every connection open now, upgraded or not.
    var trackedChannels: [Channel] { channels.withLockedValue { Array($0.values) } }

    // MARK: database work (runs on a database worker)

    func runHandshakeQuery(_ connection: RegistryConnection, uuid: String, firmware: String, kind: LookupKind) -> HandshakeOutcome {
        do {
            var start = DispatchTime.now().uptimeNanoseconds
            let found = try connection.lookup(uuid: uuid, kind: kind)
            var end = DispatchTime.now().uptimeNanoseconds
            metrics.query(kind == .indexed ? .indexed : .scan, seconds: Double(end - start) / 1e9)
            if found != nil { return .welcome }
            start = end
            try connection.register(uuid: uuid, firmware: firmware, now: BackendCore.unixNow())
            end = DispatchTime.now().uptimeNanoseconds
            metrics.query(.register, seconds: Double(end - start) / 1e9)
            return .registered
        } catch {
            return .failed
        }
    }

    /// Writes the batched `last_seen` updates (on a database worker, or inline at shutdown).
    func flushLastSeen(_ connection: RegistryConnection) {
        let batch = lastSeen.drain()
        guard !batch.isEmpty else { return }
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            try connection.touch(batch)
            metrics.withState { $0.lastSeenWritten += UInt64(batch.count) }
        } catch {
            // Put them back for the next flush rather than lose them; newer values win.
            for item in batch where true { lastSeen.touchIfAbsent(uuid: item.uuid, at: item.at) }
            metrics.reject(.databaseError)
        }
        metrics.query(.touch, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    // MARK: /metrics

    func renderMetrics() -> String {
        let s = metrics.snapshot
        var out = ""
        out.reserveCapacity(8192)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func line(_ name: String, _ labels: String = "", _ value: CustomStringConvertible) {
            out += labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n"
        }
        family("fleetsim_backend_connections_open", "gauge", "WebSocket device connections open now.")
        line("fleetsim_backend_connections_open", "", s.openConnections)
        family("fleetsim_backend_upgrades_total", "counter", "WebSocket upgrades completed.")
        line("fleetsim_backend_upgrades_total", "", s.upgrades)
        family("fleetsim_backend_handshakes_total", "counter", "Device handshakes (hello) by outcome.")
        for o in HandshakeOutcome.allCases { line("fleetsim_backend_handshakes_total", "outcome=\"\(o.rawValue)\"", s.handshakes[o] ?? 0) }
        family("fleetsim_backend_handshakes_pending", "gauge", "Handshakes waiting for the database, including ones whose device has gone.")
        line("fleetsim_backend_handshakes_pending", "", s.pendingHandshakes)
        family("fleetsim_backend_heartbeats_total", "counter", "Heartbeats acknowledged.")
        line("fleetsim_backend_heartbeats_total", "", s.heartbeats)
        family("fleetsim_backend_rejects_total", "counter", "Requests, messages and connections turned away, by cause.")
        for c in RejectCause.allCases { line("fleetsim_backend_rejects_total", "cause=\"\(c.rawValue)\"", s.rejects[c] ?? 0) }
        family("fleetsim_backend_db_queue_length", "gauge", "Database jobs waiting for a worker.")
        line("fleetsim_backend_db_queue_length", "", database?.queueLength ?? 0)
        family("fleetsim_backend_db_workers", "gauge", "Database worker threads.")
        line("fleetsim_backend_db_workers", "", database?.workers ?? 0)
        family("fleetsim_backend_db_workers_busy", "gauge", "Database workers running a job now.")
        line("fleetsim_backend_db_workers_busy", "", database?.activeWorkers ?? 0)
        family("fleetsim_backend_db_busy_fraction", "gauge", "Fraction of database worker time spent in queries over the last second.")
        line("fleetsim_backend_db_busy_fraction", "", String(format: "%.4f", busyFraction))
        family("fleetsim_backend_db_busy_seconds_total", "counter", "Worker-seconds spent in database jobs.")
        line("fleetsim_backend_db_busy_seconds_total", "", String(format: "%.6f", database?.busySeconds ?? 0))
        family("fleetsim_backend_db_query_duration_seconds", "histogram", "Database query latency by kind (indexed lookup, scan lookup, register, last_seen batch).")
        for kind in QueryKind.allCases {
            let h = s.queries[kind] ?? BackendMetrics.Histogram()
            var cumulative: UInt64 = 0
            for (i, bound) in BackendMetrics.bucketBounds.enumerated() {
                cumulative += h.buckets[i]
                line("fleetsim_backend_db_query_duration_seconds_bucket", "kind=\"\(kind.rawValue)\",le=\"\(bound)\"", cumulative)
            }
            line("fleetsim_backend_db_query_duration_seconds_bucket", "kind=\"\(kind.rawValue)\",le=\"+Inf\"", h.count)
            line("fleetsim_backend_db_query_duration_seconds_sum", "kind=\"\(kind.rawValue)\"", String(format: "%.6f", h.sum))
            line("fleetsim_backend_db_query_duration_seconds_count", "kind=\"\(kind.rawValue)\"", h.count)
        }
        family("fleetsim_backend_last_seen_pending", "gauge", "Heartbeat last_seen updates not yet written.")
        line("fleetsim_backend_last_seen_pending", "", lastSeen.count)
        family("fleetsim_backend_last_seen_written_total", "counter", "last_seen updates written.")
        line("fleetsim_backend_last_seen_written_total", "", s.lastSeenWritten)
        family("fleetsim_backend_crashes_total", "counter", "Memory-guard crashes: every connection dropped, listener reopened after a delay.")
        line("fleetsim_backend_crashes_total", "", s.crashes)
        family("fleetsim_backend_restarts_total", "counter", "Listener restarts (after crashes and admin restarts).")
        line("fleetsim_backend_restarts_total", "", s.restarts)
        family("fleetsim_backend_listening", "gauge", "1 while the device listener is open.")
        line("fleetsim_backend_listening", "", s.listening ? 1 : 0)
        family("fleetsim_backend_blocked_ranges", "gauge", "Firmware ranges on the block list.")
        line("fleetsim_backend_blocked_ranges", "", blockList.current.count)
        family("process_resident_memory_bytes", "gauge", "Resident memory of this process.")
        line("process_resident_memory_bytes", "", ProcessStats.residentBytes())
        family("fleetsim_backend_memory_anonymous_bytes", "gauge", "Anonymous resident memory (what the memory guard compares with its limit).")
        line("fleetsim_backend_memory_anonymous_bytes", "", ProcessStats.anonymousBytes())
        family("process_cpu_seconds_total", "counter", "User and system CPU time of this process.")
        line("process_cpu_seconds_total", "", String(format: "%.3f", ProcessStats.cpuSeconds()))
        return out
    }

    // MARK: /admin

    struct AdminResult {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "application/json"
        var after: (() -> Void)?
    }

    func stateJSON() -> String {
        let object: [String: Any] = [
            "blocked": blockList.current.map(\.text),
            "lookup": lookupPolicy.description,
            "admission": admissionLimits.description,
            "listening": isListening,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func authorized(_ header: String?) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        let expected = Array(adminToken.utf8)
        guard given.count == expected.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(given, expected) { diff |= a ^ b }
        return diff == 0
    }

    /// The admin API. Every route needs `Authorization: Bearer TOKEN`.
    ///
    ///     GET  /admin                 state (block list, lookup, admission, listening)
    ///     POST /admin/block           body: a firmware range, e.g. >=3.8.0-b3
    ///     POST /admin/unblock         body: a firmware range, or "all"
    ///     POST /admin/lookup          body: e.g. indexed, or scan:>=3.8.0-b3
    ///     POST /admin/admission       body: off, or rate=200 burst=400 max-pending=100
    ///     POST /admin/restart         drop every connection, reopen the listener after the restart delay
    func admin(method: HTTPMethod, path: String, authorization: String?, body: String) -> AdminResult {
        let result = adminRoute(method: method, path: path, authorization: authorization, body: body)
        if result.status == .ok, method == .POST {
            switch path {
            case "/admin/block", "/admin/unblock": publishControls([.block])
            case "/admin/lookup": publishControls([.lookup])
            case "/admin/admission": publishControls([.admission])
            default: break
            }
        }
        return result
    }

    /// Writes the controls for the other processes on this registry file (when they share them).
    func publishControls(_ names: [SharedControls.Name]) {
        guard configuration.sharesControls, let database else { return }
        let values = SharedControls.encode(self).filter { names.contains($0.key) }
        database.submit { connection in
            do { try SharedControls.publish(values, connection: connection) } catch { self.metrics.reject(.databaseError) }
        }
    }

    /// Highest `backend_controls` version applied (poll state, touched on database workers only).
    let controlsVersion = NIOLockedValueBox<Int64>(0)

    /// Reads and applies the other processes' control changes (on a database worker).
    func pollControls(_ connection: RegistryConnection) {
        let since = controlsVersion.withLockedValue { $0 }
        guard let (values, version) = try? SharedControls.changes(since: since, connection: connection) else { return }
        for (name, value) in values { SharedControls.apply(name, value, to: self) }
        controlsVersion.withLockedValue { $0 = max($0, version) }
    }

    private func adminRoute(method: HTTPMethod, path: String, authorization: String?, body: String) -> AdminResult {
        guard authorized(authorization) else {
            return AdminResult(status: .unauthorized, body: "missing or wrong bearer token\n", contentType: "text/plain; charset=utf-8")
        }
        func bad(_ message: String) -> AdminResult {
            AdminResult(status: .badRequest, body: message + "\n", contentType: "text/plain; charset=utf-8")
        }
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        switch (method, path) {
        case (.GET, "/admin"), (.GET, "/admin/"):
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/block"):
            do { blockList.block(try FirmwareRange(parsing: text)) } catch { return bad("block: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/unblock"):
            if text == "all" { blockList.clear(); return AdminResult(status: .ok, body: stateJSON()) }
            do {
                guard blockList.unblock(try FirmwareRange(parsing: text)) else { return bad("unblock: \"\(text)\" is not on the block list") }
            } catch { return bad("unblock: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/lookup"):
            do { lookupPolicy = try LookupPolicy(parsing: text) } catch { return bad("lookup: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/admission"):
            do { admissionLimits = try AdmissionLimits(parsing: text) } catch { return bad("admission: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/restart"):
            return AdminResult(status: .accepted, body: "{\"restarting\":true}\n", after: restartHandler)
        case (_, "/admin"), (_, "/admin/block"), (_, "/admin/unblock"), (_, "/admin/lookup"), (_, "/admin/admission"), (_, "/admin/restart"):
            return AdminResult(status: .methodNotAllowed, body: "method not allowed\n", contentType: "text/plain; charset=utf-8")
        default:
            return AdminResult(status: .notFound, body: "unknown admin route; see GET /admin\n", contentType: "text/plain; charset=utf-8")
        }
    }
}
