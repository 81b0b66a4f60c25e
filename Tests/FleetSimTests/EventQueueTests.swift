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
