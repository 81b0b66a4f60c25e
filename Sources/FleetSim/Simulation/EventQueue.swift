import DeviceModel

/// One scheduled event: 24 bytes, no references.
struct SimEvent {
    var time: Nanoseconds
    /// Insertion order, the tie-breaker for equal times (wraps after 2^32 events; the order stays
    /// deterministic either way).
    var seq: UInt32
    /// A second word of data for the kinds that need it (a timer token, a gateway and generation).
    var aux: UInt32
    /// Kind (8 bits) | token (24 bits) | device index (32 bits).
    var payload: UInt64

    @inline(__always)
    init(time: Nanoseconds, seq: UInt32, kind: UInt8, token: UInt32, device: UInt32, aux: UInt32) {
        self.time = time
        self.seq = seq
        self.aux = aux
        self.payload = UInt64(kind) << 56 | UInt64(token & 0xFF_FFFF) << 32 | UInt64(device)
    }

    @inline(__always) var kind: UInt8 { UInt8(truncatingIfNeeded: payload >> 56) }
    @inline(__always) var token: UInt32 { UInt32(truncatingIfNeeded: payload >> 32) & 0xFF_FFFF }
    @inline(__always) var device: Int { Int(UInt32(truncatingIfNeeded: payload)) }

    @inline(__always)
    static func before(_ a: SimEvent, _ b: SimEvent) -> Bool {
        a.time < b.time || (a.time == b.time && a.seq &- b.seq > UInt32.max / 2)
    }
}

/// The simulation's event queue: a timing wheel of ~1 ms buckets covering ~18 minutes, with a
/// binary heap for events further out.
///
/// Almost every event of a fleet simulation is a timer a few milliseconds to some minutes ahead
/// (replies, heartbeats, timeouts, backoff, session ends), so push and pop are O(1) amortised:
/// a push links a node into its bucket; when the wheel reaches a bucket, its few events are
/// sorted once into a scratch buffer and popped from there. Storage is manual (node pool with a
/// free list), so the hot path neither allocates in steady state nor pays for copy-on-write
/// checks. Order is total and deterministic: by time, then by insertion order.
final class EventQueue {
    static let bucketShift: Int64 = 20                // 1,048,576 ns per bucket
    static let bucketCount = 1 << 20                  // ≈ 1,100 s of wheel
    static let mask = bucketCount - 1

    private struct Node {
        var event: SimEvent
        var next: Int32
    }

    private var nodes: UnsafeMutablePointer<Node>
    private var nodeCapacity: Int
    private var nodeCount = 0
    private var freeList: Int32 = -1
    private let heads: UnsafeMutablePointer<Int32>
    /// One bit per bucket, and one summary bit per 64-bucket word.
    private let occupied: UnsafeMutablePointer<UInt64>
    private let summary: UnsafeMutablePointer<UInt64>
    private var wheelCount = 0
    /// Absolute bucket number of the bucket being drained.
    private var cursor: Int64 = 0
    /// The bucket being drained, sorted; `currentIndex` is the next event.
    private var current: UnsafeMutablePointer<SimEvent>
    private var currentCapacity: Int
    private var currentCount = 0
    private var currentIndex = 0
    private var overflow = OverflowHeap()
    private var seq: UInt32 = 0

    init() {
        nodeCapacity = 1 << 12
        nodes = .allocate(capacity: nodeCapacity)
        heads = .allocate(capacity: EventQueue.bucketCount)
        heads.initialize(repeating: -1, count: EventQueue.bucketCount)
        occupied = .allocate(capacity: EventQueue.bucketCount / 64)
        occupied.initialize(repeating: 0, count: EventQueue.bucketCount / 64)
        summary = .allocate(capacity: EventQueue.bucketCount / 4096)
        summary.initialize(repeating: 0, count: EventQueue.bucketCount / 4096)
        currentCapacity = 1 << 10
        current = .allocate(capacity: currentCapacity)
    }

    deinit {
        nodes.deallocate()
        heads.deallocate()
        occupied.deallocate()
        summary.deallocate()
        current.deallocate()
    }

    var isEmpty: Bool { currentIndex >= currentCount && wheelCount == 0 && overflow.count == 0 }

    var count: Int { currentCount - currentIndex + wheelCount + overflow.count }

    /// Schedules an event; `time` must not be before the last popped event.
    @inline(__always)
    func push(time: Nanoseconds, kind: UInt8, device: Int, token: UInt32 = 0, aux: UInt32 = 0) {
        seq &+= 1
        let event = SimEvent(time: time, seq: seq, kind: kind, token: token, device: UInt32(device), aux: aux)
        let bucket = time >> EventQueue.bucketShift
        if bucket <= cursor {
            insertIntoCurrent(event)
        } else if bucket - cursor < Int64(EventQueue.bucketCount) {
            link(event, slot: Int(bucket) & EventQueue.mask)
        } else {
            overflow.push(event)
        }
    }

    /// The event after the one `pop` just returned, when it is already in the current bucket.
    @inline(__always)
    var upcoming: SimEvent? { currentIndex < currentCount ? current[currentIndex] : nil }

    /// The next event in time order, or nil when none is left.
    @inline(__always)
    func pop() -> SimEvent? {
        if currentIndex < currentCount {
            let event = current[currentIndex]
            currentIndex += 1
            return event
        }
        return advance() ? pop() : nil
    }

    @inline(__always)
    private func link(_ event: SimEvent, slot: Int) {
        var node = freeList
        if node >= 0 {
            freeList = nodes[Int(node)].next
        } else {
            if nodeCount == nodeCapacity { growNodes() }
            node = Int32(nodeCount)
            nodeCount += 1
        }
        let head = heads[slot]
        (nodes + Int(node)).initialize(to: Node(event: event, next: head))
        heads[slot] = node
        if head < 0 {
            occupied[slot >> 6] |= 1 << UInt64(slot & 63)
            summary[slot >> 12] |= 1 << UInt64((slot >> 6) & 63)
        }
        wheelCount += 1
    }

    private func growNodes() {
        let bigger = UnsafeMutablePointer<Node>.allocate(capacity: nodeCapacity * 2)
        bigger.moveInitialize(from: nodes, count: nodeCount)
        nodes.deallocate()
        nodes = bigger
        nodeCapacity *= 2
    }

    private func reserveCurrent(_ n: Int) {
        guard n > currentCapacity else { return }
        var capacity = currentCapacity
        while capacity < n { capacity *= 2 }
        let bigger = UnsafeMutablePointer<SimEvent>.allocate(capacity: capacity)
        bigger.moveInitialize(from: current, count: currentCount)
        current.deallocate()
        current = bigger
        currentCapacity = capacity
    }

    private func insertIntoCurrent(_ event: SimEvent) {
        reserveCurrent(currentCount + 1)
        // After every queued event with an earlier or equal time (insertion order among ties).
        var low = currentIndex, high = currentCount
        while low < high {
            let mid = (low + high) / 2
            if current[mid].time <= event.time { low = mid + 1 } else { high = mid }
        }
        if low < currentCount {
            (current + low + 1).moveInitialize(from: current + low, count: currentCount - low)
        }
        (current + low).initialize(to: event)
        currentCount += 1
    }

    /// Moves to the next non-empty bucket; false when the queue is empty.
    private func advance() -> Bool {
        currentCount = 0
        currentIndex = 0
        migrate()
        let next: Int64
        if wheelCount > 0 {
            next = cursor + Int64(nextOccupiedOffset())
        } else if let first = overflow.first {
            next = first.time >> EventQueue.bucketShift
        } else {
            return false
        }
        cursor = next
        migrate()
        let slot = Int(cursor) & EventQueue.mask
        var node = heads[slot]
        heads[slot] = -1
        occupied[slot >> 6] &= ~(1 << UInt64(slot & 63))
        if occupied[slot >> 6] == 0 { summary[slot >> 12] &= ~(1 << UInt64((slot >> 6) & 63)) }
        while node >= 0 {
            reserveCurrent(currentCount + 1)
            let n = Int(node)
            (current + currentCount).initialize(to: nodes[n].event)
            currentCount += 1
            let next = nodes[n].next
            nodes[n].next = freeList
            freeList = node
            node = next
        }
        wheelCount -= currentCount
        sortCurrent()
        return true
    }

    private func sortCurrent() {
        let n = currentCount
        if n < 2 { return }
        if n <= 24 {
            for i in 1..<n {
                let x = current[i]
                var j = i - 1
                while j >= 0 && SimEvent.before(x, current[j]) {
                    current[j + 1] = current[j]
                    j -= 1
                }
                current[j + 1] = x
            }
        } else {
            var buffer = UnsafeMutableBufferPointer(start: current, count: n)
            buffer.sort(by: SimEvent.before)
        }
    }

    /// Offset (1…bucketCount-1) from the cursor to the next occupied bucket; the wheel is not empty.
    private func nextOccupiedOffset() -> Int {
        let words = EventQueue.bucketCount / 64
        let start = (Int(cursor) + 1) & EventQueue.mask
        var word = start >> 6
        let bits = occupied[word] & (~0 << UInt64(start & 63))
        var slot: Int
        if bits != 0 {
            slot = word << 6 | bits.trailingZeroBitCount
        } else {
            // Find the next non-empty word through the summary bitmap.
            word = (word + 1) & (words - 1)
            while true {
                let group = word >> 6
                let summaryBits = summary[group] & (~0 << UInt64(word & 63))
                if summaryBits != 0 {
                    word = group << 6 | summaryBits.trailingZeroBitCount
                    break
                }
                word = ((group + 1) << 6) & (words - 1)
            }
            slot = word << 6 | occupied[word].trailingZeroBitCount
        }
        let offset = (slot - Int(cursor)) & EventQueue.mask
        return offset == 0 ? EventQueue.bucketCount : offset
    }

    /// Moves far-future events that are now within the wheel's horizon into their buckets.
    private func migrate() {
        let horizon = cursor + Int64(EventQueue.bucketCount)
        while let first = overflow.first, first.time >> EventQueue.bucketShift < horizon {
            let event = overflow.pop()
            let bucket = event.time >> EventQueue.bucketShift
            if bucket <= cursor {
                insertIntoCurrent(event)
            } else {
                link(event, slot: Int(bucket) & EventQueue.mask)
            }
        }
    }
}

/// A binary min-heap of events (by time, then insertion order) for the far future.
struct OverflowHeap {
    private var items: [SimEvent] = []

    var count: Int { items.count }
    var first: SimEvent? { items.first }

    mutating func push(_ event: SimEvent) {
        items.append(event)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard SimEvent.before(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> SimEvent {
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, SimEvent.before(items[left], items[smallest]) { smallest = left }
                if right < items.count, SimEvent.before(items[right], items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
