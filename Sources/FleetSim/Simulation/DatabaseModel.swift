import DeviceModel

/// The database of the backend model: `cores` servers taking queries first-come first-served.
///
/// Because every message crosses the network with the same latency, queries reach the database
/// in the order the engine issues them, and a FIFO multi-server queue with known service times
/// can be computed at arrival (the Kiefer–Wolfowitz workload recursion): a query starts when it
/// has arrived and a core is free, on the core that frees first. So a query costs one heap
/// operation and no events of its own; its completion is known the moment it is issued.
/// Work whose device has gone still runs: nothing here knows about devices.
struct DatabaseModel {
    /// When each core becomes free (a min-heap).
    private var coreFree: [Nanoseconds]
    /// Service-time divisor, for fractional capacity after `--scale`.
    var speed: Double
    var queueTimeout: Nanoseconds?
    /// Busy core-time per report interval.
    private(set) var busy: [Nanoseconds]
    let interval: Nanoseconds
    private(set) var queries: UInt64 = 0
    private(set) var refused: UInt64 = 0

    init(cores: Int, speed: Double, queueTimeout: Nanoseconds?, interval: Nanoseconds, intervals: Int) {
        coreFree = Array(repeating: 0, count: max(1, cores))
        self.speed = speed
        self.queueTimeout = queueTimeout
        self.interval = interval
        busy = Array(repeating: 0, count: intervals + 1)
    }

    var cores: Int { coreFree.count }

    /// How long a query arriving at `time` would wait for a core.
    func wait(at time: Nanoseconds) -> Nanoseconds { max(0, coreFree[0] - time) }

    /// Issues a query arriving at `arrival` with service time `cost`; returns when it completes,
    /// or nil when it would wait longer than the queue timeout (refused, no database work).
    @inline(__always)
    mutating func issue(arrival: Nanoseconds, cost: Nanoseconds) -> Nanoseconds? {
        let start = max(arrival, coreFree[0])
        if let limit = queueTimeout, start - arrival > limit {
            refused += 1
            return nil
        }
        let service = speed == 1 ? cost : Nanoseconds(Double(cost) / speed)
        let end = start + service
        coreFree[0] = end
        siftDown()
        queries += 1
        account(start: start, end: end)
        return end
    }

    /// Changes the number of cores from `time` on. Work already issued keeps its schedule.
    mutating func setCores(_ cores: Int, at time: Nanoseconds) {
        let target = max(1, cores)
        if target > coreFree.count {
            coreFree.append(contentsOf: repeatElement(time, count: target - coreFree.count))
        } else {
            coreFree.sort()
            coreFree.removeLast(coreFree.count - target)   // retire the busiest cores
        }
        coreFree.sort()   // a sorted array is a valid min-heap
    }

    /// Fraction of the capacity used during interval `index`.
    func utilization(interval index: Int) -> Double {
        guard index < busy.count else { return 0 }
        return min(1, Double(busy[index]) / (Double(interval) * Double(coreFree.count)))
    }

    @inline(__always)
    private mutating func account(start: Nanoseconds, end: Nanoseconds) {
        var i = Int(start / interval)
        var from = start
        while from < end, i < busy.count {
            let boundary = Nanoseconds(i + 1) * interval
            let until = min(end, boundary)
            busy[i] += until - from
            from = until
            i += 1
        }
    }

    @inline(__always)
    private mutating func siftDown() {
        let n = coreFree.count
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
