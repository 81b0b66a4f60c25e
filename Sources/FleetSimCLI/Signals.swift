import Dispatch
import FleetSim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT, SIGTERM and SIGHUP (the terminal closed: a run in it still writes its report) for the
/// whole process and every command, taken on the main thread with
/// `sigwait` (`watchOnThisThread`) and counted as stop requests (`SignalRequests`: the same signal
/// repeated within half a second is one request). A command asks for them with `stopLatch`: the
/// first request releases the latch (a service group shuts down gracefully on it, `simulate` polls
/// it), and a second one ends the process at once with status 130.
///
/// Why not `signal()` or a `DispatchSourceSignal`: a process signal goes to any one thread that does
/// not block it, and once NIO, SQLite workers and Dispatch have started their threads, that thread
/// was seen to be a Dispatch worker whose mask blocks it: `fleetsim backend` ignored Ctrl-C
/// (FIELD-NOTES, 2026-12-01). Blocking both signals first thing in `main`, before any other thread
/// exists, makes every later thread inherit the mask, so the signals stay pending for the process
/// until the main thread takes them. No handler runs in signal context: the handler is ordinary
/// Swift on an ordinary thread.
///
/// Until a command asks for a latch, a signal ends the process as the default disposition would
/// (killed by that signal), so a command that never thinks about signals still stops on Ctrl-C.
enum Signals {
    /// The signals this type takes over.
    static let termination: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// What a second request does.
    enum SecondRequest {
        /// End the process at once, status 130 (a user who asks twice means it).
        case exitAtOnce
        /// Nothing: the process stops once, cleanly. For a process whose parent stops it (a worker
        /// of several, an embedded backend), which also receives its parent's group's signals.
        case ignore
    }

    /// From now on, the first stop request releases the returned latch; a second one does what
    /// `second` says. Call it once, before anything slow, so that an early Ctrl-C is kept.
    static func stopLatch(second: SecondRequest = .exitAtOnce) -> ShutdownLatch {
        let latch = ShutdownLatch()
        shared.with { state in
            state.handler = { request in
                if request == 1 { latch.release() } else if second == .exitAtOnce { _exit(130) }
            }
        }
        return latch
    }

    /// Blocks SIGINT and SIGTERM on the calling thread, and so on every thread it starts later. Call
    /// it first thing in a synchronous `main`, before anything starts a thread, then hand the main
    /// thread to `watchOnThisThread()`.
    ///
    /// Why not an `async` main: on Linux the runtime parks the main thread of an async main in
    /// libdispatch's `dispatch_main()`, which leaves it in `sigsuspend` with an empty mask, so every
    /// process signal goes to it, and to the default action, whatever the other threads block.
    static func blockTerminationSignals() {
        var set = terminationSet
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The watcher, on the calling thread (the main thread, which has nothing else to do while the
    /// command runs on the concurrency pool): takes each SIGINT and SIGTERM with `sigwait` and
    /// hands each new request to the handler in force. Never returns; the command ends the process.
    static func watchOnThisThread() -> Never {
        var set = Signals.terminationSet
        while true {
            var received: Int32 = 0
            guard sigwait(&set, &received) == 0 else { continue }
            let now = Int64(DispatchTime.now().uptimeNanoseconds)
            let (handler, request) = shared.with { state -> (Handler?, Int?) in
                (state.handler, state.requests.receive(received, at: now))
            }
            guard let request else { continue }   // a repeat of the last request
            if let handler { handler(request) } else { dieBySignal(received) }
        }
    }

    typealias Handler = @Sendable (_ request: Int) -> Void

    private struct State {
        var handler: Handler?
        var requests = SignalRequests()
    }

    private static let shared = LockedState()

    /// The handler in force and the requests so far, behind one lock.
    private final class LockedState: @unchecked Sendable {  // `state` is protected by `lock`
        private let lock = NSLock()
        private var state = State()

        func with<T>(_ body: (inout State) -> T) -> T {
            lock.lock(); defer { lock.unlock() }
            return body(&state)
        }
    }

    private static var terminationSet: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in termination { sigaddset(&set, s) }
        return set
    }

    /// The default: end the process as if the signal had never been blocked.
    private static func dieBySignal(_ received: Int32) {
        signal(received, SIG_DFL)
        var one = sigset_t()
        sigemptyset(&one)
        sigaddset(&one, received)
        pthread_sigmask(SIG_UNBLOCK, &one, nil)
        raise(received)
        _exit(128 + received) // not reached
    }
}
