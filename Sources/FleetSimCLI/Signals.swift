import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM for the whole process, taken on the main thread with `sigwait` (`watchOnThisThread`).
///
/// Why not `signal()` or a `DispatchSourceSignal`: a process signal goes to any one thread that does
/// not block it, and once NIO, SQLite workers and Dispatch have started their threads, that thread
/// was seen to be a Dispatch worker whose mask blocks it: `fleetsim backend` ignored Ctrl-C
/// (FIELD-NOTES, 2026-12-01). Blocking both signals first thing in `main`, before any other thread
/// exists, makes every later thread inherit the mask, so the signals stay pending for the process
/// until the main thread takes them. No handler runs in signal context: the handler is ordinary
/// Swift on an ordinary thread.
///
/// Until a command installs its own handler, a signal ends the process as the default disposition
/// would (killed by that signal), so a command that never thinks about signals still stops on Ctrl-C.
enum Signals {
    /// The signals this type takes over.
    static let termination: [Int32] = [SIGINT, SIGTERM]

    private struct State {
        var handler: @Sendable (_ signal: Int32, _ count: Int) -> Void = Signals.dieBySignal
        var count = 0
        var interruptRequested = false
    }

    private static let shared = LockedState()

    private static func withState<T>(_ body: (inout State) -> T) -> T { shared.with(body) }

    /// The handler in force and the count of signals so far, behind one lock.
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
    /// hands it to the handler in force. Never returns; the command ends the process.
    static func watchOnThisThread() -> Never {
        var set = Signals.terminationSet
        while true {
            var received: Int32 = 0
            guard sigwait(&set, &received) == 0 else { continue }
            let (handler, count) = Signals.withState { state -> (@Sendable (Int32, Int) -> Void, Int) in
                state.count += 1
                return (state.handler, state.count)
            }
            handler(received, count)
        }
    }

    /// Makes `handler` the one that receives SIGINT and SIGTERM from now on, on the main thread,
    /// with the number of signals received so far (1 for the first). It replaces any earlier handler.
    /// The handler should return quickly (signal a semaphore, set a flag): the next signal waits for it.
    static func watch(_ handler: @escaping @Sendable (_ signal: Int32, _ count: Int) -> Void) {
        withState { $0.handler = handler }
    }

    /// The handler for commands that poll `interruptRequested` (`fleetsim simulate`): the first
    /// signal sets it, the second ends the process at once with status 130.
    static func installDefault() {
        watch { _, count in
            Signals.withState { $0.interruptRequested = true }
            if count >= 2 { _exit(130) }
        }
    }

    /// True once SIGINT or SIGTERM has arrived under `installDefault()`.
    static var interruptRequested: Bool { withState { $0.interruptRequested } }

    /// The default: end the process as if the signal had never been blocked.
    private static let dieBySignal: @Sendable (Int32, Int) -> Void = { received, _ in
        signal(received, SIG_DFL)
        var one = sigset_t()
        sigemptyset(&one)
        sigaddset(&one, received)
        pthread_sigmask(SIG_UNBLOCK, &one, nil)
        raise(received)
        _exit(128 + received) // not reached
    }
}

/// Ctrl-C asks the run to stop at the next interval, so the report of what ran is still written.
enum Interrupt {
    static var requested: Bool { Signals.interruptRequested }

    static func install() { Signals.installDefault() }
}
