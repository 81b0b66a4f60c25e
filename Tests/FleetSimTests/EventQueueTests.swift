import Testing
@testable import DeviceModel
@testable import FleetSim

@Test func eventsComeOutInTimeOrderThenInsertionOrder() {
    let queue = EventQueue()
    var random = SeededRandom(seed: 3)
    var expected: [(time: Int64, device: Int)] = []
    // Near (same bucket), within the wheel, and far beyond its horizon; with ties.
    for i in 0..<20_000 {
        let time: Int64
        switch i % 4 {
        case 0: time = random.uniform(0, 2_000_000)
        case 1: time = random.uniform(0, 60 * Time.second)
        case 2: time = random.uniform(0, 5 * Time.hour)
        default: time = Int64(i % 7) * Time.second          // many exact ties
        }
        queue.push(time: time, kind: 1, device: i)
        expected.append((time, i))
    }
    expected.sort { $0.time < $1.time || ($0.time == $1.time && $0.device < $1.device) }
    var popped: [(Int64, Int)] = []
    while let e = queue.pop() { popped.append((e.time, e.device)) }
    #expect(popped.count == expected.count)
    let same = popped.elementsEqual(expected) { (a: (Int64, Int), b: (time: Int64, device: Int)) -> Bool in
        a.0 == b.time && a.1 == b.device
    }
    #expect(same)
}

@Test func eventsPushedWhileDrainingKeepTheOrder() {
    let queue = EventQueue()
    queue.push(time: 10, kind: 0, device: 0)
    var times: [Int64] = []
    var pushed = 0
    while let e = queue.pop() {
        times.append(e.time)
        if pushed < 5_000 {
            // Into the current bucket, the next ones, and past the wheel.
            let offsets: [Int64] = [1, 3_000_000, 2 * Time.hour]
            queue.push(time: e.time + offsets[pushed % 3], kind: 0, device: pushed)
            queue.push(time: e.time, kind: 0, device: pushed)
            pushed += 1
        }
    }
    #expect(times == times.sorted())
    #expect(times.count == 1 + 2 * 5_000)
}

@Test func payloadFieldsRoundTrip() {
    let e = SimEvent(time: 5, seq: 1, kind: 11, token: 0x12_3456, device: 0xFFFF_FFFE, aux: 77)
    #expect(e.kind == 11 && e.token == 0x12_3456 && e.device == 0xFFFF_FFFE && e.aux == 77)
}

/// Pushes and pops at random against a reference (a sorted list), across every path of the
/// queue: the bucket being drained, large buckets (counting sort), later windows of the
/// calendar's second level, and the far future past it.
@Test func theQueueAgreesWithAReferenceAcrossEveryLevel() {
    let queue = EventQueue()
    var random = SeededRandom(seed: 11)
    // Kept sorted latest first, so the next event is the last one.
    var reference: [(time: Int64, id: Int)] = []
    var id = 0
    var now: Int64 = 0
    func push(_ time: Int64) {
        queue.push(time: time, kind: 2, device: id)
        var low = 0, high = reference.count
        while low < high {
            let mid = (low + high) / 2
            if reference[mid].time > time || (reference[mid].time == time && reference[mid].id > id) {
                low = mid + 1
            } else {
                high = mid
            }
        }
        reference.insert((time, id), at: low)
        id += 1
    }
    // A crowded bucket a second out: 5,000 events within its 67 ms, a tenth of them tied.
    for k in 0..<5_000 { push(Time.second + (k % 10 == 0 ? 7 : random.uniform(0, 60 * Time.millisecond))) }
    var popped = 0
    while let e = queue.pop() {
        // The reference's next event is the earliest, and among equal times the first pushed.
        let expected = reference.removeLast()
        #expect(e.time == expected.time && e.device == expected.id)
        if e.time != expected.time || e.device != expected.id { return }
        now = e.time
        popped += 1
        if id < 12_000 {
            switch random.uniform(0, 5) {
            case 0: push(now)                                               // a tie with what is due
            case 1: push(now + random.uniform(0, 50 * Time.millisecond))    // the drained bucket
            case 2: push(now + random.uniform(0, 20 * Time.minute))         // this window or the next
            case 3: push(now + random.uniform(0, 30 * 24 * Time.hour))      // the second level
            case 4: push(now + random.uniform(60, 90) * 24 * Time.hour)     // past it
            default: push(now + Time.second + random.uniform(0, 4) * 15 * Time.millisecond)
            }
        }
    }
    #expect(reference.isEmpty)
    #expect(popped == id)
}

/// `peek(notAfterBucketOf:)` answers without moving the calendar past its limit, so an event
/// pushed afterwards for an earlier time still comes out first.
@Test func peekingDoesNotMoveTheCalendarPastTheLimit() {
    let queue = EventQueue()
    queue.push(time: 100 * Time.second, kind: 1, device: 1)
    queue.push(time: 40 * 24 * Time.hour, kind: 1, device: 2)
    #expect(queue.peek(notAfterBucketOf: Time.second) == nil)
    queue.push(time: Time.second + 5, kind: 1, device: 3)
    #expect(queue.peek(notAfterBucketOf: 2 * Time.second)?.device == 3)
    #expect(queue.pop()?.device == 3)
    #expect(queue.peek(notAfterBucketOf: 50 * Time.second) == nil)
    queue.push(time: 60 * Time.second, kind: 1, device: 4)
    #expect([queue.pop()?.device, queue.pop()?.device, queue.pop()?.device, queue.pop()?.device] == [4, 1, 2, nil])
}
