import Foundation
import Logging
import ServiceLifecycle

/// The commands that serve (`backend`, `run`, `calibrate`) run their work as services of one
/// swift-service-lifecycle `ServiceGroup`, and SIGINT or SIGTERM shut the group down gracefully.
///
/// The signals come from `Signals` (the main thread's `sigwait`), not from the group's own
/// `gracefulShutdownSignals`: those use a Dispatch signal source, and the backend was seen to
/// never receive a signal through one once its threads were running (FIELD-NOTES, 2026-12-01).
/// The first signal releases a `ShutdownLatch`; `SignalService`, one service of the group, waits
/// for it and returns, and its return shuts the group down (the other services in reverse order).
/// A signal that arrives before the group runs (while a registry is seeded, say) is kept: the
/// group shuts down as soon as it starts.
enum Lifecycle {
    /// Runs `services` until one finishes or the latch is released, then shuts every one down
    /// gracefully, in reverse order.
    static func run(_ services: [any Service], until latch: ShutdownLatch, logger: Logger) async throws {
        var configured = services.map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                                                           failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        configured.append(.init(service: SignalService(latch: latch), successTerminationBehavior: .gracefullyShutdownGroup))
        var configuration = ServiceGroupConfiguration(services: configured, logger: logger)
        configuration.gracefulShutdownSignals = []
        configuration.cancellationSignals = []
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// Released once, from any thread; `wait()` returns once it is released, `isReleased` is for
/// work that polls (`fleetsim simulate` between intervals).
final class ShutdownLatch: @unchecked Sendable {  // `released` and `waiters` are protected by `lock`
    private let lock = NSLock()
    private var released = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func release() {
        let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            released = true
            defer { waiters = [] }
            return waiters
        }
        for w in waiting { w.resume() }
    }

    var isReleased: Bool { lock.withLock { released } }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = lock.withLock { () -> Bool in
                if released { return true }
                waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// Returns when the latch is released (a signal), which shuts the group down; also returns when
/// the group shuts down for another reason.
private struct SignalService: Service {
    let latch: ShutdownLatch

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler { await latch.wait() } onCancel: { latch.release() }
        } onGracefulShutdown: {
            latch.release()
        }
    }
}
