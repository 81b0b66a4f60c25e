import Foundation
import ServiceLifecycle

/// Blocking work (a live run's coordinator, a calibration) run from a service: on a thread of its
/// own, so that it never holds a thread of the concurrency pool, with a stop flag it polls that a
/// graceful shutdown of the service group, or the task's cancellation, sets.
enum StoppableWork {
    static func run<T: Sendable>(threadName: String,
                                 _ work: @escaping @Sendable (_ shouldStop: @escaping @Sendable () -> Bool) throws -> T) async -> Result<T, Error> {
        let stop = StopRequest()
        return await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { continuation in
                    let thread = Thread {
                        continuation.resume(returning: Result { try work { stop.requested } })
                    }
                    thread.name = threadName
                    thread.start()
                }
            } onGracefulShutdown: {
                stop.request()
            }
        } onCancel: {
            stop.request()
        }
    }
}

/// A flag set from any thread and polled by the work.
private final class StopRequest: @unchecked Sendable {  // `flag` is protected by `lock`
    private let lock = NSLock()
    private var flag = false
    var requested: Bool { lock.withLock { flag } }
    func request() { lock.withLock { flag = true } }
}
