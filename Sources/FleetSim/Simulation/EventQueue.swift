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

/// The simulation's event queue: a calendar of ~67 ms buckets covering ~18 minutes, a small
/// heap for events due within the bucket being drained, and a heap for the far future.
///
/// Almost every event of a fleet simulation is a timer milliseconds to minutes ahead (replies,
/// heartbeats, timeouts, backoff, session ends). A bucket is a chain of fixed-size chunks from
/// one pool: a push appends to its bucket's last chunk (a sequential write), and when the
/// calendar reaches a bucket its chunks are copied out, sorted once, and drained in order (a
/// sequential read), so the memory traffic of a million-device fleet streams instead of chasing
/// pointers, and the engine can prefetch the devices of the next events. Memory follows the
/// events in flight, and chunks return to a free list: a steady-state run does not allocate.
/// Events pushed into the bucket being drained (replies a few milliseconds out) go through a
/// binary heap that stays small. Order is total and deterministic: by time, then insertion order.
final class EventQueue {
    static let bucketShift: Int64 = 26               // 67,108,864 ns per bucket
    static let bucketCount = 1 << 14                 // ≈ 1,100 s of calendar
    static let mask = bucketCount - 1
    static let chunkSize = 32                        // events per chunk (768 bytes)

    /// The chunk pool: `chunkCapacity` chunks of `chunkSize` events.
    private var pool: UnsafeMutablePointer<SimEvent>
    private var chunkCapacity: Int
    private var chunkNext: UnsafeMutablePointer<Int32>
    private var chunkFill: UnsafeMutablePointer<Int32>
    private var chunksUsed = 0
    private var freeChunks: Int32 = -1
    /// First and last chunk of each bucket (-1: empty).
    private let heads: UnsafeMutablePointer<Int32>
    private let tails: UnsafeMutablePointer<Int32>
    private let occupied: UnsafeMutablePointer<UInt64>
    private var calendarCount = 0
    /// Absolute number of the bucket being drained.
    private var cursor: Int64 = 0
    /// The bucket being drained, sorted; `index` is the next event.
    private var sorted: [SimEvent] = []
    private var index = 0
    /// Events pushed into the bucket being drained after it was opened.
    private var near = OverflowHeap()
    private var overflow = OverflowHeap()
    private var seq: UInt32 = 0

    init() {
        chunkCapacity = 256
        pool = .allocate(capacity: chunkCapacity * EventQueue.chunkSize)
        chunkNext = .allocate(capacity: chunkCapacity)
        chunkFill = .allocate(capacity: chunkCapacity)
        heads = .allocate(capacity: EventQueue.bucketCount)
        heads.initialize(repeating: -1, count: EventQueue.bucketCount)
        tails = .allocate(capacity: EventQueue.bucketCount)
        tails.initialize(repeating: -1, count: EventQueue.bucketCount)
        occupied = .allocate(capacity: EventQueue.bucketCount / 64)
        occupied.initialize(repeating: 0, count: EventQueue.bucketCount / 64)
    }

    deinit {
        pool.deallocate()
        chunkNext.deallocate()
        chunkFill.deallocate()
        heads.deallocate()
        tails.deallocate()
        occupied.deallocate()
    }

    var isEmpty: Bool { index >= sorted.count && near.count == 0 && calendarCount == 0 && overflow.count == 0 }

    var count: Int { sorted.count - index + near.count + calendarCount + overflow.count }

    /// Schedules an event; `time` must not be before the last popped event.
    @inline(__always)
    func push(time: Nanoseconds, kind: UInt8, device: Int, token: UInt32 = 0, aux: UInt32 = 0) {
        seq &+= 1
        let event = SimEvent(time: time, seq: seq, kind: kind, token: token, device: UInt32(device), aux: aux)
        let bucket = time >> EventQueue.bucketShift
        if bucket <= cursor {
            near.push(event)
        } else if bucket - cursor < Int64(EventQueue.bucketCount) {
            file(event, slot: Int(bucket) & EventQueue.mask)
        } else {
            overflow.push(event)
        }
    }

    /// An event that `pop` will return soon (`ahead` places on in the drained bucket), if known:
    /// for prefetching.
    @inline(__always)
    func upcoming(_ ahead: Int) -> SimEvent? {
        index + ahead < sorted.count ? sorted[index + ahead] : nil
    }

    /// The next event in time order, or nil when none is left.
    @inline(__always)
    func pop() -> SimEvent? {
        while true {
            if index < sorted.count {
                let next = sorted[index]
                if let first = near.first, SimEvent.before(first, next) { return near.pop() }
                index += 1
                return next
            }
            if near.count > 0 { return near.pop() }
            if !advance() { return nil }
        }
    }

    @inline(__always)
    private func file(_ event: SimEvent, slot: Int) {
        var chunk = tails[slot]
        if chunk < 0 || chunkFill[Int(chunk)] == Int32(EventQueue.chunkSize) {
            let fresh = takeChunk()
            if chunk < 0 {
                heads[slot] = fresh
                occupied[slot >> 6] |= 1 << UInt64(slot & 63)
            } else {
                chunkNext[Int(chunk)] = fresh
            }
            tails[slot] = fresh
            chunk = fresh
        }
        let c = Int(chunk)
        (pool + c * EventQueue.chunkSize + Int(chunkFill[c])).initialize(to: event)
        chunkFill[c] += 1
        calendarCount += 1
    }

    private func takeChunk() -> Int32 {
        let chunk: Int32
        if freeChunks >= 0 {
            chunk = freeChunks
            freeChunks = chunkNext[Int(chunk)]
        } else {
            if chunksUsed == chunkCapacity { growPool() }
            chunk = Int32(chunksUsed)
            chunksUsed += 1
        }
        chunkNext[Int(chunk)] = -1
        chunkFill[Int(chunk)] = 0
        return chunk
    }

    private func growPool() {
        let capacity = chunkCapacity * 2
        let bigger = UnsafeMutablePointer<SimEvent>.allocate(capacity: capacity * EventQueue.chunkSize)
        bigger.moveInitialize(from: pool, count: chunkCapacity * EventQueue.chunkSize)
        pool.deallocate()
        pool = bigger
        let next = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        next.moveInitialize(from: chunkNext, count: chunkCapacity)
        chunkNext.deallocate()
        chunkNext = next
        let fill = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        fill.moveInitialize(from: chunkFill, count: chunkCapacity)
        chunkFill.deallocate()
        chunkFill = fill
        chunkCapacity = capacity
    }

    /// Moves to the next non-empty bucket; false when the queue is empty.
    private func advance() -> Bool {
        sorted.removeAll(keepingCapacity: true)
        index = 0
        migrate()
        let next: Int64
        if calendarCount > 0 {
            next = cursor + Int64(nextOccupiedOffset())
        } else if let first = overflow.first {
            next = first.time >> EventQueue.bucketShift
        } else {
            return false
        }
        cursor = next
        migrate()
        let slot = Int(cursor) & EventQueue.mask
        var chunk = heads[slot]
        heads[slot] = -1
        tails[slot] = -1
        occupied[slot >> 6] &= ~(1 << UInt64(slot & 63))
        while chunk >= 0 {
            let c = Int(chunk)
            sorted.append(contentsOf: UnsafeBufferPointer(start: pool + c * EventQueue.chunkSize, count: Int(chunkFill[c])))
            let next = chunkNext[c]
            chunkNext[c] = freeChunks
            freeChunks = chunk
            chunk = next
        }
        calendarCount -= sorted.count
        sorted.sort(by: SimEvent.before)
        return true
    }

    /// Offset (1…bucketCount-1) from the cursor to the next occupied bucket; the calendar is not empty.
    private func nextOccupiedOffset() -> Int {
        let words = EventQueue.bucketCount / 64
        let start = (Int(cursor) + 1) & EventQueue.mask
        var word = start >> 6
        var bits = occupied[word] & (~0 << UInt64(start & 63))
        var scanned = 0
        while bits == 0 && scanned <= words {
            word = (word + 1) & (words - 1)
            bits = occupied[word]
            scanned += 1
        }
        let slot = word << 6 | bits.trailingZeroBitCount
        let offset = (slot - Int(cursor)) & EventQueue.mask
        return offset == 0 ? EventQueue.bucketCount : offset
    }

    /// Moves far-future events that are now within the calendar's horizon into their buckets.
    private func migrate() {
        let horizon = cursor + Int64(EventQueue.bucketCount)
        while let first = overflow.first, first.time >> EventQueue.bucketShift < horizon {
            let event = overflow.pop()
            let bucket = event.time >> EventQueue.bucketShift
            if bucket <= cursor { near.push(event) } else { file(event, slot: Int(bucket) & EventQueue.mask) }
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
