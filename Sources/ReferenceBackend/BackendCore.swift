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
    /// Highest `backend_controls` version applied (see `pollControls`).
    let controlsVersion = NIOLockedValueBox<Int64>(0)

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

}
