import DeviceModel

/// One scheduled event: 24 bytes, no references.
struct SimEvent {
    var time: Nanoseconds
    /// Insertion order, the tie-breaker for equal times (wraps after 2^32 events; order stays
    /// deterministic either way).
    var seq: UInt32
    /// A second word of data for the few kinds that need it (e.g. gateway and generation).
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

/// The simulation's event queue: a timing wheel of ~1 ms buckets covering ~68 s, with a binary
/// heap for events further out.
///
/// Almost every event of a fleet simulation is a timer a few milliseconds to a minute ahead
/// (replies, heartbeats, timeouts, backoff), so push and pop are O(1) amortised: a push appends
/// to a bucket, a pop takes the next event of the current bucket, sorted once when the wheel
/// reaches it. Buckets keep their capacity, so a steady-state run allocates nothing.
/// Order is total and deterministic: by time, then by insertion order.
struct EventQueue {
    static let bucketShift: Int64 = 20                // 1,048,576 ns per bucket
    static let bucketCount = 1 << 16                  // ≈ 68.7 s of wheel
    static let mask = bucketCount - 1

    private var buckets: [[SimEvent]]
    private var occupied: [UInt64]
    private var wheelCount = 0
    /// Absolute bucket number of `current`.
    private var cursor: Int64 = 0
    /// The bucket being drained, sorted; `currentIndex` is the next event.
    private var current: [SimEvent] = []
    private var currentIndex = 0
    private var overflow: [SimEvent] = []
    private var seq: UInt32 = 0

    init() {
        buckets = Array(repeating: [], count: EventQueue.bucketCount)
        occupied = Array(repeating: 0, count: EventQueue.bucketCount / 64)
    }

    var isEmpty: Bool { currentIndex >= current.count && wheelCount == 0 && overflow.isEmpty }

    var count: Int { current.count - currentIndex + wheelCount + overflow.count }

    /// Schedules an event; `time` must not be before the last popped event.
    @inline(__always)
    mutating func push(time: Nanoseconds, kind: UInt8, device: Int, token: UInt32 = 0, aux: UInt32 = 0) {
        seq &+= 1
        let event = SimEvent(time: time, seq: seq, kind: kind, token: token, device: UInt32(device), aux: aux)
        let bucket = time >> EventQueue.bucketShift
        if bucket <= cursor {
            insertIntoCurrent(event)
        } else if bucket - cursor < Int64(EventQueue.bucketCount) {
            let slot = Int(bucket) & EventQueue.mask
            buckets[slot].append(event)
            occupied[slot >> 6] |= 1 << UInt64(slot & 63)
            wheelCount += 1
        } else {
            pushOverflow(event)
        }
    }

    /// The next event in time order, or nil when none is left.
    @inline(__always)
    mutating func pop() -> SimEvent? {
        if currentIndex < current.count {
            defer { currentIndex += 1 }
            return current[currentIndex]
        }
        return advance() ? pop() : nil
    }

    private mutating func insertIntoCurrent(_ event: SimEvent) {
        // After every queued event with an earlier or equal time: binary search from the back half.
        var low = currentIndex, high = current.count
        while low < high {
            let mid = (low + high) / 2
            if current[mid].time <= event.time { low = mid + 1 } else { high = mid }
        }
        current.insert(event, at: low)
    }

    /// Moves to the next non-empty bucket; false when the queue is empty.
    private mutating func advance() -> Bool {
        current.removeAll(keepingCapacity: true)
        currentIndex = 0
        migrate()
        var next: Int64
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
        swap(&current, &buckets[slot])
        occupied[slot >> 6] &= ~(1 << UInt64(slot & 63))
        wheelCount -= current.count
        if current.count > 1 { current.sort(by: SimEvent.before) }
        return true
    }

    /// Offset (1…bucketCount-1) from the cursor to the next occupied bucket; the wheel is not empty.
    private func nextOccupiedOffset() -> Int {
        let start = (Int(cursor) + 1) & EventQueue.mask
        var word = start >> 6
        var bits = occupied[word] & (~0 << UInt64(start & 63))
        var scanned = 0
        while bits == 0 {
            word = (word + 1) & (occupied.count - 1)
            bits = occupied[word]
            scanned += 1
            if scanned > occupied.count { break }
        }
        let slot = word << 6 | bits.trailingZeroBitCount
        let offset = (slot - Int(cursor)) & EventQueue.mask
        return offset == 0 ? EventQueue.bucketCount : offset
    }

    /// Moves far-future events that are now within the wheel's horizon into their buckets.
    private mutating func migrate() {
        let horizon = cursor + Int64(EventQueue.bucketCount)
        while let first = overflow.first, first.time >> EventQueue.bucketShift < horizon {
            let event = popOverflow()
            let bucket = event.time >> EventQueue.bucketShift
            if bucket <= cursor {
                insertIntoCurrent(event)
            } else {
                let slot = Int(bucket) & EventQueue.mask
                buckets[slot].append(event)
                occupied[slot >> 6] |= 1 << UInt64(slot & 63)
                wheelCount += 1
            }
        }
    }

    // MARK: - Overflow heap (binary, by time then insertion order)

    private mutating func pushOverflow(_ event: SimEvent) {
        overflow.append(event)
        var child = overflow.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard SimEvent.before(overflow[child], overflow[parent]) else { break }
            overflow.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popOverflow() -> SimEvent {
        let top = overflow[0]
        let last = overflow.removeLast()
        if !overflow.isEmpty {
            overflow[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < overflow.count, SimEvent.before(overflow[left], overflow[smallest]) { smallest = left }
                if right < overflow.count, SimEvent.before(overflow[right], overflow[smallest]) { smallest = right }
                if smallest == parent { break }
                overflow.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
