import DeviceModel
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The state every connection of one backend shares: configuration, counters, controls that can
/// change at runtime, and the database pool.
// @unchecked: the runtime controls sit in NIOLockedValueBoxes; `database` and `restartHandler` are set
// once, before the listener opens, and only read after.
final class BackendCore: @unchecked Sendable {
    let configuration: ReferenceBackendConfiguration
    let logger: Logger
    let metrics: BackendMetrics
    let blockList: BlockList
    let lastSeen = LastSeenBatcher()
    let adminToken: String
    /// What each handshake waiting for the database holds (`pendingMemory` in the configuration).
    let pendingMemory: PendingMemory
    /// Set once by `ReferenceBackend.start()` before the listener opens.
    var database: DatabaseWorkerPool!
    /// Admin "restart" (how long the listener stays closed; nil: the restart delay): wired by `ReferenceBackend`.
    var restartHandler: (@Sendable (TimeAmount?) -> Void)?

    private let lookup: NIOLockedValueBox<LookupPolicy>
    private let admission: NIOLockedValueBox<(limits: AdmissionPolicy, gate: AdmissionGate)>
    private let faultBox = NIOLockedValueBox(FaultInjection())
    private let listeningBox = NIOLockedValueBox(false)
    private let busyFractionBox = NIOLockedValueBox(0.0)
    private let channels = NIOLockedValueBox([ObjectIdentifier: Channel]())
    /// Highest `backend_controls` version applied (see `pollControls`).
    let controlsVersion = NIOLockedValueBox<Int64>(0)

    init(configuration: ReferenceBackendConfiguration, logger: Logger = Logger(label: "fleetsim.backend")) {
        self.configuration = configuration
        self.logger = logger
        metrics = BackendMetrics(processLabels: [("pid", "\(getpid())"), ("shares_port", "\(configuration.reusePort)")])
        blockList = BlockList(configuration.blockedFirmware)
        lookup = NIOLockedValueBox(configuration.lookup)
        admission = NIOLockedValueBox((configuration.admission,
                                       AdmissionGate(policy: configuration.admission, now: BackendCore.monotonicNanos())))
        adminToken = configuration.adminToken ?? BackendCore.generateToken()
        pendingMemory = PendingMemory(bytesPerHandshake: configuration.pendingMemory)
        metrics.stateCosts(configuration.statedCosts)
    }

    static func generateToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(g.next() as UInt64, radix: 16) }.joined()
    }

    static func unixNow() -> Int64 { Int64(Date().timeIntervalSince1970) }
    static func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    static func monotonicNanos() -> Nanoseconds { Nanoseconds(DispatchTime.now().uptimeNanoseconds) }

    // MARK: runtime controls

    var lookupPolicy: LookupPolicy {
        get { lookup.withLockedValue { $0 } }
        set { lookup.withLockedValue { $0 = newValue } }
    }

    var admissionLimits: AdmissionPolicy {
        get { admission.withLockedValue { $0.limits } }
        set {
            let gate = AdmissionGate(policy: newValue, now: BackendCore.monotonicNanos())
            admission.withLockedValue { $0 = (newValue, gate) }
        }
    }

    /// Faults injected at run time (`/admin/fault`); all off at start.
    var faults: FaultInjection {
        get { faultBox.withLockedValue { $0 } }
        set { faultBox.withLockedValue { $0 = newValue } }
    }

    var isListening: Bool {
        get { listeningBox.withLockedValue { $0 } }
        set { listeningBox.withLockedValue { $0 = newValue }; metrics.setListening(newValue) }
    }

    var busyFraction: Double {
        get { busyFractionBox.withLockedValue { $0 } }
        set { busyFractionBox.withLockedValue { $0 = newValue } }
    }

    /// Admission control at upgrade time (DeviceModel's `AdmissionGate`): the pending-handshake
    /// limit, then the connect-rate bucket.
    func admitUpgrade() -> UpgradeRejection? {
        let pending = metrics.pendingHandshakes
        let now = BackendCore.monotonicNanos()
        let verdict = admission.withLockedValue { $0.gate.admit(pending: pending, now: now) }
        switch verdict {
        case .admitted:
            return nil
        case .refused(let reason, let retryAfter):
            return .admission(cause: reason == .rate ? .admissionRate : .admissionPending,
                              retryAfter: BackendCore.wholeSeconds(retryAfter))
        }
    }

    /// A Retry-After in whole seconds, rounded up.
    static func wholeSeconds(_ ns: Nanoseconds) -> Int {
        Int(ns / Time.second) + (ns % Time.second > 0 ? 1 : 0)
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

    /// The hello's lookup (and the registration of an unknown device). `failing`: a `db-errors`
    /// fault fails it: the lookup still runs and costs its time, and the outcome is `.failed`.
    func runHandshakeQuery(_ connection: RegistryConnection, uuid: String, firmware: String, kind: LookupKind,
                           failing: Bool = false) -> HandshakeOutcome {
        do {
            var start = DispatchTime.now().uptimeNanoseconds
            let found = try connection.lookup(uuid: uuid, kind: kind)
            var end = DispatchTime.now().uptimeNanoseconds
            let queryKind: QueryKind = kind == .indexed ? .indexed : .scan
            metrics.query(queryKind, seconds: Double(end - start) / 1e9)
            // The stated cost holds the worker, as long as the real query did not take longer.
            charge(queryKind, start: start, end: &end, connection: connection)
            if failing { return .failed }
            if found != nil { return .welcome }
            start = end
            try connection.register(uuid: uuid, firmware: firmware, now: BackendCore.unixNow())
            end = DispatchTime.now().uptimeNanoseconds
            metrics.query(.register, seconds: Double(end - start) / 1e9)
            return .registered
        } catch {
            logger.warning("registry query failed; the device gets 1011", metadata: ["error": "\(error)", "lookup": "\(kind)"])
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
            metrics.lastSeenWritten(batch.count)
            var end = DispatchTime.now().uptimeNanoseconds
            metrics.query(.touch, seconds: Double(end - start) / 1e9)
            charge(.touch, units: batch.count, start: start, end: &end, connection: connection)
        } catch {
            logger.error("last_seen batch write failed; its updates are kept for the next flush",
                         metadata: ["error": "\(error)", "updates": "\(batch.count)"])
            // Put them back for the next flush rather than lose them; newer values win.
            for item in batch where true { lastSeen.touchIfAbsent(uuid: item.uuid, at: item.at) }
            metrics.reject(.databaseError)
            metrics.query(.touch, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
    }

    /// Logs the start-up probe against the stated costs: a warning, one line per query kind,
    /// when the real query is slower than its stated cost.
    func reportProbe(_ probe: DatabaseProbe, rows: Int) {
        let stated = configuration.statedCosts
        logger.info("database probe", metadata: [
            "rows": "\(rows)", "scan_ms": "\(probe.scanSeconds * 1e3)", "indexed_ms": "\(probe.indexedSeconds * 1e3)",
            "stated_scan_ms": "\(Double(stated.nanoseconds(.scan) ?? 0) / 1e6)",
            "stated_indexed_ms": "\(Double(stated.nanoseconds(.indexed) ?? 0) / 1e6)"])
        for (kind, real, flag) in [(QueryKind.scan, probe.scanSeconds, "--scan-cost"), (.indexed, probe.indexedSeconds, "--indexed-cost")] {
            guard let s = stated.nanoseconds(kind), real * 1e9 > Double(s) else { continue }
            logger.warning("\(StatedCostWarning.line(kind: kind.rawValue, realSeconds: real, statedSeconds: Double(s) / 1e9, rows: rows)); raise \(flag) or use fewer --rows")
        }
    }

    /// Charges the calling database worker the query's stated cost (`units`: the updates in a
    /// `last_seen` flush) and records what was done: the padding slept, or a query slower than
    /// stated. `end` becomes the time the worker is released.
    func charge(_ kind: QueryKind, units: Int = 1, start: UInt64, end: inout UInt64, connection: RegistryConnection) {
        guard let stated = configuration.statedCosts.nanoseconds(kind, units: units) else { return }
        let real = end - start
        if real > stated {
            metrics.slowerThanStated(kind, realSeconds: Double(real) / 1e9, statedSeconds: Double(stated) / 1e9)
        } else {
            // What this query adds to the worker's hold beyond its real time (slept now or with
            // the next ones: `CostHold`).
            metrics.padded(kind, seconds: Double(stated - real) / 1e9)
        }
        end += CostHold.charge(&connection.costBalance, real: real, stated: stated)
    }

}
