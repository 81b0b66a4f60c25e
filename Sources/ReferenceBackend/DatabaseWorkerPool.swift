import Foundation
import NIOCore

/// A fixed number of threads, each with its own registry connection, serving one FIFO queue.
///
/// The event loops never touch SQLite: they enqueue a job and are called back. The queue is not
/// bounded (as in 2020: admission control is the fix, not a silent drop) and a job whose device
/// has gone still runs to completion, which is how abandoned work keeps a database busy.
final class DatabaseWorkerPool: @unchecked Sendable {
    typealias Job = (RegistryConnection) -> Void

    private let condition = NSCondition()
    private var queue = CircularBuffer<Job>(initialCapacity: 1024)
    private var stopping = false
    private var running = 0
    private var busyNanos: UInt64 = 0
    private var runningSince: [UInt64?]
    private let finished = DispatchGroup()
    let workers: Int

    init(path: String, workers: Int) throws {
        precondition(workers > 0)
        self.workers = workers
        runningSince = Array(repeating: nil, count: workers)
        let connections = try (0..<workers).map { _ in try RegistryConnection(path: path) }
        for (i, connection) in connections.enumerated() {
            finished.enter()
            let thread = Thread { [self] in
                self.work(index: i, connection: connection)
                self.finished.leave()
            }
            thread.name = "fleetsim-db-\(i)"
            thread.start()
        }
    }

    func submit(_ job: @escaping Job) {
        condition.lock()
        queue.append(job)
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
        for since in runningSince { if let since { total += now - since } }
        return Double(total) / 1e9
    }

    /// Lets the queue drain, then stops the threads. Blocks until they have exited.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        finished.wait()
    }

    private func work(index: Int, connection: RegistryConnection) {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping { condition.unlock(); return }
            let job = queue.removeFirst()
            running += 1
            let start = DispatchTime.now().uptimeNanoseconds
            runningSince[index] = start
            condition.unlock()

            job(connection)

            condition.lock()
            running -= 1
            runningSince[index] = nil
            busyNanos += DispatchTime.now().uptimeNanoseconds - start
            condition.unlock()
        }
    }
}
