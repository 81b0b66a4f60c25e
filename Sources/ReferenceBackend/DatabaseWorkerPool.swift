import Foundation
import NIOCore

/// Threads, each with its own registry connection, serving one FIFO queue. Their number can change
/// at run time (`/admin/db-workers`): the live runner's "slow the database" timeline action.
///
/// The event loops never touch SQLite: they enqueue a job and are called back. The queue is not
/// bounded (as in 2020: admission control is the fix, not a silent drop) and a job whose device
/// has gone still runs to completion, which is how abandoned work keeps a database busy.
// @unchecked: every mutable field is guarded by `condition`.
final class DatabaseWorkerPool: @unchecked Sendable {
    /// Runs on a worker thread: what it needs from an event loop must come in `Sendable` or
    /// `NIOLoopBound`.
    typealias Job = @Sendable (RegistryConnection) -> Void

    private struct Queued {
        var job: Job
        var enqueuedAt: UInt64
        /// Called instead of `job` when it waited past the queue timeout; nil: it always runs.
        var expired: (@Sendable () -> Void)?
    }

    private let path: String
    /// A job that waits longer than this for a worker does not run (a connection pool's acquire
    /// timeout): its `expired` handler is called instead. nil: jobs wait as long as it takes.
    private let queueTimeout: UInt64?
    private var expiredCount: UInt64 = 0
    private let condition = NSCondition()
    private var queue = CircularBuffer<Queued>(initialCapacity: 1024)
    private var stopping = false
    private var running = 0
    private var busyNanos: UInt64 = 0
    private var waitNanos: UInt64 = 0
    private var started: UInt64 = 0
    /// Start time of the job each worker runs now, by worker id.
    private var runningSince: [Int: UInt64] = [:]
    /// Workers wanted; `alive` is above it while surplus workers finish their job and exit.
    private var target: Int
    private var alive = 0
    private var nextID = 0
    private let finished = DispatchGroup()

    init(path: String, workers: Int, queueTimeout: UInt64? = nil) throws {
        precondition(workers > 0)
        self.path = path
        self.queueTimeout = queueTimeout
        target = workers
        let connections = try (0..<workers).map { _ in try RegistryConnection(path: path) }
        condition.lock()
        for connection in connections { spawn(connection) }
        condition.unlock()
    }

    /// Workers wanted now (after a shrink, surplus ones may still be finishing their job).
    var workers: Int {
        condition.lock(); defer { condition.unlock() }
        return target
    }

    /// Changes the number of workers. Growing opens a connection per new worker; shrinking lets the
    /// surplus workers finish the job they run, then exit. Queued work is kept either way.
    func resize(to count: Int) throws {
        precondition(count > 0)
        condition.lock()
        let missing = count - alive
        condition.unlock()
        let connections = try (0..<max(0, missing)).map { _ in try RegistryConnection(path: path) }
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return }
        target = count
        // Another resize may have run while the connections opened: start only what is still missing.
        for connection in connections where alive < target { spawn(connection) }
        condition.broadcast()
    }

    /// Called with the lock held.
    private func spawn(_ connection: RegistryConnection) {
        let id = nextID
        nextID += 1
        alive += 1
        finished.enter()
        let thread = Thread { [self] in
            CostHold.prepareWorkerThread()
            self.work(id: id, connection: connection)
            self.finished.leave()
        }
        thread.name = "fleetsim-db-\(id)"
        thread.start()
    }

    /// Queues `job`. With `expired`, the job is subject to the queue timeout: when it has waited
    /// longer by the time a worker is free, `expired` runs (on that worker) instead.
    func submit(_ job: @escaping Job, expired: (@Sendable () -> Void)? = nil) {
        let now = DispatchTime.now().uptimeNanoseconds
        condition.lock()
        queue.append(Queued(job: job, enqueuedAt: now, expired: expired))
        condition.signal()
        condition.unlock()
    }

    /// Jobs waiting for a worker (not counting the ones running).
    var queueLength: Int {
        condition.lock(); defer { condition.unlock() }
        return queue.count
    }

    /// Jobs running right now.
    var activeWorkers: Int {
        condition.lock(); defer { condition.unlock() }
        return running
    }

    /// Worker-seconds spent running jobs since start, counting jobs still running.
    var busySeconds: Double {
        condition.lock(); defer { condition.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        var total = busyNanos
        for since in runningSince.values { total += now - since }
        return Double(total) / 1e9
    }

    /// How the queue makes jobs wait: the oldest queued job's wait so far (0 when none waits), and
    /// the total wait and number of the jobs that have started.
    var waits: (oldestSeconds: Double, totalSeconds: Double, started: UInt64) {
        condition.lock(); defer { condition.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        let oldest = queue.first.map { now - min(now, $0.enqueuedAt) } ?? 0
        return (Double(oldest) / 1e9, Double(waitNanos) / 1e9, started)
    }

    /// Jobs that waited past the queue timeout and never ran.
    var expiredJobs: UInt64 {
        condition.lock(); defer { condition.unlock() }
        return expiredCount
    }

    /// Lets the queue drain, then stops the threads. Blocks until they have exited.
    func shutdown() {
        condition.lock()
        stopping = true
        // Every worker drains the queue: a shrink still in progress does not slow the last jobs.
        target = max(target, alive)
        condition.broadcast()
        condition.unlock()
        finished.wait()
    }

    private func work(id: Int, connection: RegistryConnection) {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping && alive <= target { condition.wait() }
            if alive > target || (queue.isEmpty && stopping) {
                alive -= 1
                condition.unlock()
                return
            }
            let item = queue.removeFirst()
            let start = DispatchTime.now().uptimeNanoseconds
            if let expired = item.expired, let limit = queueTimeout, start - min(start, item.enqueuedAt) > limit {
                expiredCount += 1
                condition.unlock()
                expired()
                continue
            }
            running += 1
            waitNanos += start - min(start, item.enqueuedAt)
            started += 1
            runningSince[id] = start
            condition.unlock()

            item.job(connection)

            condition.lock()
            running -= 1
            runningSince[id] = nil
            busyNanos += DispatchTime.now().uptimeNanoseconds - start
            condition.unlock()
        }
    }
}
