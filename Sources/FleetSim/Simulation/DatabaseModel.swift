import DeviceModel

/// The database of the backend model: `cores` servers taking queries first-come first-served.
///
/// Because every message crosses the network with the same latency, queries reach the database
/// in the order the engine issues them, and a FIFO multi-server queue with known service times
/// can be computed at arrival (the Kiefer–Wolfowitz workload recursion): a query starts when it
/// has arrived and a core is free, on the core that frees first. So a query costs one heap
/// operation and no events of its own; its completion is known the moment it is issued.
/// Work whose device has gone still runs: nothing here knows about devices.
// Stored properties are `@exclusivity(unchecked)`: the engine runs on one thread and never
// holds two accesses to one of them at once; dynamic checks cost more than the events.
final class DatabaseModel {
    /// When each core becomes free (a min-heap of `cores` entries).
    @exclusivity(unchecked) private var coreFree: UnsafeMutablePointer<Nanoseconds>
    @exclusivity(unchecked) private(set) var cores: Int
    /// Service-time divisor, for fractional capacity after `--scale`.
    let speed: Double
    let queueTimeout: Nanoseconds?
    /// Busy core-time per report interval (`intervals + 1` entries).
    private let busy: UnsafeMutablePointer<Nanoseconds>
    private let busyCount: Int
    let interval: Nanoseconds
    /// The report interval the last query started in, and where it ends: queries start in
    /// FIFO order, so the next one almost always starts in the same interval (no division).
    @exclusivity(unchecked) private var currentInterval = 0
    @exclusivity(unchecked) private var currentIntervalEnd: Nanoseconds
    @exclusivity(unchecked) private(set) var refused: UInt64 = 0

    init(cores: Int, speed: Double, queueTimeout: Nanoseconds?, interval: Nanoseconds, intervals: Int) {
        self.cores = max(1, cores)
        coreFree = .allocate(capacity: self.cores)
        coreFree.initialize(repeating: 0, count: self.cores)
        self.speed = speed
        self.queueTimeout = queueTimeout
        self.interval = interval
        busyCount = intervals + 1
        busy = .allocate(capacity: busyCount)
        busy.initialize(repeating: 0, count: busyCount)
        currentIntervalEnd = interval
    }

    deinit {
        coreFree.deallocate()
        busy.deallocate()
    }

    /// How long a query arriving at `time` would wait for a core.
    func wait(at time: Nanoseconds) -> Nanoseconds { max(0, coreFree[0] - time) }

    /// Issues a query arriving at `arrival` with service time `cost`; returns when it completes,
    /// or nil when it would wait longer than the queue timeout (refused, no database work).
    @inline(__always)
    func issue(arrival: Nanoseconds, cost: Nanoseconds) -> Nanoseconds? {
        let start = max(arrival, coreFree[0])
        if let limit = queueTimeout, start - arrival > limit {
            refused += 1
            return nil
        }
        let service = speed == 1 ? cost : Nanoseconds(Double(cost) / speed)
        let end = start + service
        coreFree[0] = end
        siftDown()
        account(start: start, end: end)
        return end
    }

    /// Changes the number of cores from `time` on. Work already issued keeps its schedule.
    func setCores(_ cores: Int, at time: Nanoseconds) {
        let target = max(1, cores)
        // Keep the cores that free first (retire the busiest), add idle ones from `time`.
        var free = Array(UnsafeBufferPointer(start: coreFree, count: self.cores)).sorted()
        if target > free.count {
            free.append(contentsOf: repeatElement(time, count: target - free.count))
        } else {
            free.removeLast(free.count - target)
        }
        free.sort()   // a sorted array is a valid min-heap
        coreFree.deallocate()
        coreFree = .allocate(capacity: target)
        _ = UnsafeMutableBufferPointer(start: coreFree, count: target).initialize(from: free)
        self.cores = target
    }

    /// Fraction of the capacity used during interval `index`.
    func utilization(interval index: Int) -> Double {
        guard index < busyCount else { return 0 }
        return min(1, Double(busy[index]) / (Double(interval) * Double(cores)))
    }

    /// Adds the busy time of a query to the intervals it spans.
    @inline(__always)
    private func account(start: Nanoseconds, end: Nanoseconds) {
        if start >= currentIntervalEnd || start < currentIntervalEnd - interval {
            currentInterval = Int(start / interval)
            currentIntervalEnd = Nanoseconds(currentInterval + 1) * interval
        }
        if end <= currentIntervalEnd {
            if currentInterval < busyCount { busy[currentInterval] += end - start }
            return
        }
        var i = currentInterval
        var from = start
        while from < end, i < busyCount {
            let until = min(end, Nanoseconds(i + 1) * interval)
            busy[i] += until - from
            from = until
            i += 1
        }
    }

    @inline(__always)
    private func siftDown() {
        let n = cores
        if n == 1 { return }
        var parent = 0
        let value = coreFree[0]
        while true {
            let left = 2 * parent + 1
            if left >= n { break }
            var child = left
            if left + 1 < n, coreFree[left + 1] < coreFree[left] { child = left + 1 }
            if coreFree[child] >= value { break }
            coreFree[parent] = coreFree[child]
            parent = child
        }
        coreFree[parent] = value
    }
}
