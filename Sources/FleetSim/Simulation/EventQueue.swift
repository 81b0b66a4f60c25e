import CFleetSimSupport
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

/// The simulation's event queue: a two-level calendar (a timing wheel) of ~67 ms buckets, a
/// small heap for events due within the bucket being drained, and a heap for the far future.
///
/// Almost every event of a fleet simulation is a timer milliseconds to minutes ahead (replies,
/// heartbeats, timeouts, backoff, session ends). A bucket is a chain of fixed-size chunks from
/// one pool: a push appends to its bucket's last chunk (a sequential write), and when the
/// calendar reaches a bucket its chunks are sorted out in one counting pass and drained in
/// order (a sequential read), so the memory traffic of a million-device fleet streams instead of chasing
/// pointers, and the engine can prefetch the devices of the next events. Memory follows the
/// events in flight, and chunks return to a free list: a steady-state run does not allocate.
///
/// The first level holds the 16,384 buckets of the current window (~18 minutes); the second
/// level holds 4,096 whole windows (~52 days), and a window's events move down once, in one
/// sequential pass, when the calendar reaches it. Only events further out than that (or pushed
/// into the bucket being drained) go through a binary heap. Order is total and deterministic:
/// by time, then insertion order.
// Stored properties are `@exclusivity(unchecked)`: the engine runs on one thread and never
// holds two accesses to one of them at once; dynamic checks cost more than the events.
final class EventQueue {
    static let bucketShift: Int64 = 26               // 67,108,864 ns per bucket
    static let windowShift: Int64 = 14               // buckets per window: 16,384 (≈ 1,100 s)
    static let bucketCount = 1 << 14
    static let mask = bucketCount - 1
    static let windowCount = 1 << 12                 // windows on the second level (≈ 52 days)
    static let windowMask = windowCount - 1
    static let chunkSize = 32                        // events per chunk (768 bytes)

    /// The chunk pool: `chunkCapacity` chunks of `chunkSize` events, in segments of
    /// `segmentChunks` chunks. The pool grows a segment at a time and never moves: no copy and
    /// no doubling, so a million-device run's peak memory is the events it holds.
    static let segmentShift = 11
    static let segmentChunks = 1 << segmentShift     // 2,048 chunks (1.5 MiB) per segment
    @exclusivity(unchecked) private var segments: UnsafeMutablePointer<UnsafeMutablePointer<SimEvent>>
    @exclusivity(unchecked) private var segmentCapacity = 16
    @exclusivity(unchecked) private var chunkCapacity = 0
    @exclusivity(unchecked) private var chunkNext: UnsafeMutablePointer<Int32>
    @exclusivity(unchecked) private var chunkFill: UnsafeMutablePointer<Int32>
    @exclusivity(unchecked) private var chunksUsed = 0
    @exclusivity(unchecked) private var freeChunks: Int32 = -1
    /// The buckets of the current window, then the windows: first and last chunk of each
    /// (-1: empty) and a bitmap of the occupied ones.
    @exclusivity(unchecked) private var buckets: Level
    @exclusivity(unchecked) private var windows: Level
    /// Absolute number of the bucket being drained (one before the window when a window opens).
    @exclusivity(unchecked) private var cursor: Int64 = 0
    /// Absolute number of the window whose buckets the first level holds.
    @exclusivity(unchecked) private var window: Int64 = 0
    /// The bucket being drained, sorted: `sortedCount` events, `index` is the next one.
    @exclusivity(unchecked) private var sorted: UnsafeMutablePointer<SimEvent>
    @exclusivity(unchecked) private var sortedCount = 0
    /// The capacity of `sorted` and of `scratch`, the radix sort's second buffer.
    @exclusivity(unchecked) private var sortedCapacity = 256
    /// The chunks of the bucket being opened (reused).
    @exclusivity(unchecked) private var runs: [UnsafeBufferPointer<SimEvent>] = []
    @exclusivity(unchecked) private var index = 0
    @exclusivity(unchecked) private var scratch: UnsafeMutablePointer<SimEvent>
    private let radixCounts = UnsafeMutablePointer<Int32>.allocate(capacity: 3 * 512)
    /// Events pushed into the bucket being drained after it was opened.
    @exclusivity(unchecked) private var near = OverflowHeap()
    @exclusivity(unchecked) private var overflow = OverflowHeap()
    @exclusivity(unchecked) private var seq: UInt32 = 0

    /// One level of the calendar.
    private struct Level {
        let heads: UnsafeMutablePointer<Int32>
        let tails: UnsafeMutablePointer<Int32>
        let occupied: UnsafeMutablePointer<UInt64>
        let slots: Int
        var count = 0

        init(slots: Int) {
            self.slots = slots
            heads = .allocate(capacity: slots)
            heads.initialize(repeating: -1, count: slots)
            tails = .allocate(capacity: slots)
            tails.initialize(repeating: -1, count: slots)
            occupied = .allocate(capacity: slots / 64)
            occupied.initialize(repeating: 0, count: slots / 64)
        }

        func free() {
            heads.deallocate()
            tails.deallocate()
            occupied.deallocate()
        }

        /// The first occupied slot at or after `start`, without wrapping (nil: none).
        func firstOccupied(from start: Int) -> Int? {
            guard start < slots else { return nil }
            var word = start >> 6
            var bits = occupied[word] & (~0 << UInt64(start & 63))
            while bits == 0 {
                word += 1
                if word == slots / 64 { return nil }
                bits = occupied[word]
            }
            return word << 6 | bits.trailingZeroBitCount
        }
    }

    init() {
        segments = .allocate(capacity: segmentCapacity)
        sorted = .allocate(capacity: sortedCapacity)
        scratch = .allocate(capacity: sortedCapacity)
        chunkNext = .allocate(capacity: 1)
        chunkFill = .allocate(capacity: 1)
        buckets = Level(slots: EventQueue.bucketCount)
        windows = Level(slots: EventQueue.windowCount)
    }

    deinit {
        for k in 0..<chunkCapacity / EventQueue.segmentChunks { segments[k].deallocate() }
        segments.deallocate()
        sorted.deallocate()
        scratch.deallocate()
        radixCounts.deallocate()
        chunkNext.deallocate()
        chunkFill.deallocate()
        buckets.free()
        windows.free()
    }

    var isEmpty: Bool { count == 0 }

    var count: Int { sortedCount - index + near.count + buckets.count + windows.count + overflow.count }

    /// Schedules an event; `time` must not be before the last popped event.
    @inline(__always)
    func push(time: Nanoseconds, kind: UInt8, device: Int, token: UInt32 = 0, aux: UInt32 = 0) {
        seq &+= 1
        place(SimEvent(time: time, seq: seq, kind: kind, token: token, device: UInt32(device), aux: aux))
    }

    @inline(__always)
    private func place(_ event: SimEvent) {
        let bucket = event.time >> EventQueue.bucketShift
        if bucket <= cursor {
            near.push(event)
        } else if bucket >> EventQueue.windowShift == window {
            file(event, slot: Int(bucket) & EventQueue.mask, in: &buckets)
        } else if (bucket >> EventQueue.windowShift) - window < Int64(EventQueue.windowCount) {
            file(event, slot: Int(bucket >> EventQueue.windowShift) & EventQueue.windowMask, in: &windows)
        } else {
            overflow.push(event)
        }
    }

    /// An event that `pop` will return soon (`ahead` places on in the drained bucket), if known:
    /// for prefetching.
    @inline(__always)
    func upcoming(_ ahead: Int) -> SimEvent? {
        index + ahead < sortedCount ? sorted[index + ahead] : nil
    }

    /// The event `pop` would return next, left in the queue, if it is due no later than the
    /// bucket of `limit`; nil when it is due later (or nothing is queued). The calendar does not
    /// move past `limit`, so a caller may still push events from `limit` on without them
    /// landing behind the cursor.
    func peek(notAfterBucketOf limit: Nanoseconds) -> SimEvent? {
        while true {
            if index < sortedCount {
                let next = sorted[index]
                if let first = near.first, SimEvent.before(first, next) { return first }
                return next
            }
            if let first = near.first { return first }
            guard nextBucket(notAfter: limit >> EventQueue.bucketShift) != nil, advance() else { return nil }
        }
    }

    /// The next event in time order, or nil when none is left.
    @inline(__always)
    func pop() -> SimEvent? {
        while true {
            if index < sortedCount {
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
    private func file(_ event: SimEvent, slot: Int, in level: inout Level) {
        var chunk = level.tails[slot]
        if chunk < 0 || chunkFill[Int(chunk)] == Int32(EventQueue.chunkSize) {
            let fresh = takeChunk()
            if chunk < 0 {
                level.heads[slot] = fresh
                level.occupied[slot >> 6] |= 1 << UInt64(slot & 63)
            } else {
                chunkNext[Int(chunk)] = fresh
            }
            level.tails[slot] = fresh
            chunk = fresh
        }
        let c = Int(chunk)
        (events(ofChunk: c) + Int(chunkFill[c])).initialize(to: event)
        chunkFill[c] += 1
        level.count += 1
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

    @inline(__always)
    private func events(ofChunk c: Int) -> UnsafeMutablePointer<SimEvent> {
        segments[c >> EventQueue.segmentShift] + (c & (EventQueue.segmentChunks - 1)) * EventQueue.chunkSize
    }

    /// Adds a segment of chunks.
    private func growPool() {
        let segment = chunkCapacity / EventQueue.segmentChunks
        if segment == segmentCapacity {
            let bigger = UnsafeMutablePointer<UnsafeMutablePointer<SimEvent>>.allocate(capacity: segmentCapacity * 2)
            bigger.moveInitialize(from: segments, count: segmentCapacity)
            segments.deallocate()
            segments = bigger
            segmentCapacity *= 2
        }
        segments[segment] = .allocate(capacity: EventQueue.segmentChunks * EventQueue.chunkSize)
        let capacity = chunkCapacity + EventQueue.segmentChunks
        // The chunk links are 8 bytes a chunk (a hundredth of the events): these may move.
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

    /// Unlinks the chunks of a slot and calls `body` with each chunk's events, then frees them.
    @inline(__always)
    private func take(slot: Int, from level: inout Level, _ body: (UnsafeBufferPointer<SimEvent>) -> Void) {
        var chunk = level.heads[slot]
        level.heads[slot] = -1
        level.tails[slot] = -1
        level.occupied[slot >> 6] &= ~(1 << UInt64(slot & 63))
        while chunk >= 0 {
            let c = Int(chunk)
            let events = UnsafeBufferPointer(start: events(ofChunk: c), count: Int(chunkFill[c]))
            level.count -= events.count
            body(events)
            let next = chunkNext[c]
            chunkNext[c] = freeChunks
            freeChunks = chunk
            chunk = next
        }
    }

    /// Moves to the next non-empty bucket; false when the queue is empty.
    private func advance() -> Bool {
        sortedCount = 0
        index = 0
        guard let bucket = nextBucket(notAfter: .max) else { return false }
        cursor = bucket
        // The chunks go back to the free list but keep their events until the next push: the
        // sort reads them in place.
        runs.removeAll(keepingCapacity: true)
        var n = 0
        take(slot: Int(bucket) & EventQueue.mask, from: &buckets) { chunk in
            runs.append(chunk)
            n += chunk.count
        }
        if n > sortedCapacity {
            sorted.deallocate()
            scratch.deallocate()
            sortedCapacity = max(n, 2 * sortedCapacity)
            sorted = .allocate(capacity: sortedCapacity)
            scratch = .allocate(capacity: sortedCapacity)
        }
        sortedCount = n
        sortBucket()
        prefetchNextBucket()
        return true
    }

    /// Starts loading the events of the next bucket while this one is handled: they were
    /// written seconds to minutes ago and have left the cache, and its chunks are scattered
    /// over the pool, where the hardware prefetcher cannot guess them.
    private func prefetchNextBucket() {
        guard cursor & Int64(EventQueue.mask) != Int64(EventQueue.mask),
              let slot = buckets.firstOccupied(from: Int(cursor) & EventQueue.mask + 1) else { return }
        var chunk = buckets.heads[slot]
        var budget = 128   // chunks (96 KiB) at most
        while chunk >= 0 && budget > 0 {
            let base = UnsafeRawPointer(events(ofChunk: Int(chunk)))
            let bytes = Int(chunkFill[Int(chunk)]) * MemoryLayout<SimEvent>.stride
            for offset in stride(from: 0, to: bytes, by: 64) { fleetsim_prefetch(base + offset) }
            chunk = chunkNext[Int(chunk)]
            budget -= 1
        }
    }

    /// Sorts the opened bucket's events (`runs`) into `sorted` by (time, insertion order).
    ///
    /// The events of a bucket share the upper bits of their times, so a counting sort on the
    /// lower 26 bits orders them by time, in linear time: one pass on the top bits for a small
    /// bucket (then they are nearly sorted), three stable passes of 9 bits for a large one. An
    /// insertion sort finishes: it settles what the first pass left and equal times (events
    /// arrive in a bucket almost always in insertion order), mostly one comparison per event.
    /// The buffers are kept between buckets: no allocation in steady state.
    private func sortBucket() {
        let n = sortedCount
        let counts = radixCounts
        @inline(__always) func digit(_ e: SimEvent, _ shift: Int) -> Int {
            (Int(truncatingIfNeeded: e.time) >> shift) & 511
        }
        if n <= 16 {
            var i = 0
            for run in runs { for e in run { (sorted + i).initialize(to: e); i += 1 } }
        } else if n <= 2048 {
            // One pass on the top bits of the 26: about as many ranges as events (at most 256).
            let bits = min(8, Int.bitWidth - n.leadingZeroBitCount)
            let shift = 26 - bits, ranges = 1 << bits
            @inline(__always) func range(_ e: SimEvent) -> Int { (Int(truncatingIfNeeded: e.time) >> shift) & (ranges - 1) }
            counts.initialize(repeating: 0, count: ranges)
            for run in runs { for e in run { counts[range(e)] += 1 } }
            var sum: Int32 = 0
            for d in 0..<ranges { let c = counts[d]; counts[d] = sum; sum += c }
            for run in runs {
                for e in run {
                    let d = range(e)
                    (sorted + Int(counts[d])).initialize(to: e)
                    counts[d] += 1
                }
            }
        } else {
            counts.initialize(repeating: 0, count: 3 * 512)
            for run in runs {
                for e in run {
                    counts[digit(e, 0)] += 1
                    counts[512 + digit(e, 9)] += 1
                    counts[1024 + digit(e, 18)] += 1
                }
            }
            for pass in 0..<3 {
                var sum: Int32 = 0
                for d in 0..<512 {
                    let c = counts[pass * 512 + d]
                    counts[pass * 512 + d] = sum
                    sum += c
                }
            }
            // Chunks → sorted → scratch → sorted, by the digits from least to most significant.
            for run in runs {
                for e in run {
                    let d = digit(e, 0)
                    (sorted + Int(counts[d])).initialize(to: e)
                    counts[d] += 1
                }
            }
            @inline(__always) func scatter(_ from: UnsafeMutablePointer<SimEvent>, _ to: UnsafeMutablePointer<SimEvent>,
                                           shift: Int, offsets: UnsafeMutablePointer<Int32>) {
                for i in 0..<n {
                    let e = from[i]
                    let d = digit(e, shift)
                    (to + Int(offsets[d])).initialize(to: e)
                    offsets[d] += 1
                }
            }
            scatter(sorted, scratch, shift: 9, offsets: counts + 512)
            scatter(scratch, sorted, shift: 18, offsets: counts + 1024)
        }
        var i = 1
        while i < n {
            let e = sorted[i]
            var j = i
            while j > 0 && SimEvent.before(e, sorted[j - 1]) {
                sorted[j] = sorted[j - 1]
                j -= 1
            }
            sorted[j] = e
            i += 1
        }
    }

    /// The next occupied bucket if it is not after bucket `limit`, opening the next windows that
    /// hold events as needed (but none that starts after `limit`).
    private func nextBucket(notAfter limit: Int64) -> Int64? {
        while true {
            if buckets.count > 0 {
                // Every event on the first level is in the window and after the cursor.
                let from = cursor < window << EventQueue.windowShift ? 0 : Int(cursor) & EventQueue.mask + 1
                let bucket = window << EventQueue.windowShift | Int64(buckets.firstOccupied(from: from)!)
                return bucket <= limit ? bucket : nil
            }
            guard let next = nextWindow(), next << EventQueue.windowShift <= limit else { return nil }
            open(window: next)
        }
    }

    /// The next window that holds events, when the current one is spent.
    private func nextWindow() -> Int64? {
        if windows.count > 0 {
            let start = Int(window + 1) & EventQueue.windowMask
            let slot = windows.firstOccupied(from: start) ?? windows.firstOccupied(from: 0)!
            return window + 1 + Int64((slot - start) & EventQueue.windowMask)
        }
        // Far-future events are at least a whole second level away (see `open`).
        return overflow.first.map { $0.time >> (EventQueue.bucketShift + EventQueue.windowShift) }
    }

    /// Makes `next` the current window: its events move down to the first level, in one pass.
    private func open(window next: Int64) {
        window = next
        cursor = (next << EventQueue.windowShift) - 1
        take(slot: Int(next) & EventQueue.windowMask, from: &windows) { events in
            for event in events {
                file(event, slot: Int(event.time >> EventQueue.bucketShift) & EventQueue.mask, in: &buckets)
            }
        }
        // Far-future events that the second level can now hold.
        while let first = overflow.first,
              first.time >> (EventQueue.bucketShift + EventQueue.windowShift) - window < Int64(EventQueue.windowCount) {
            place(overflow.pop())
        }
    }
}
