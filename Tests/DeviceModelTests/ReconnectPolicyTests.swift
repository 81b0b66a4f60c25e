import Testing
@testable import DeviceModel

private let ms = Time.millisecond

@Test func exponentialDoublesUpToTheCap() {
    let p = ReconnectPolicy(kind: .exponential, base: 100 * ms, cap: 1_000 * ms)
    var r = SeededRandom(seed: 1)
    let delays = (0..<6).map { p.delay(attempt: $0, previous: 0, random: &r) }
    #expect(delays == [100, 200, 400, 800, 1_000, 1_000].map { $0 * ms })
    #expect(p.delay(attempt: 500, previous: 0, random: &r) == 1_000 * ms)   // no overflow at huge attempts
}

@Test func fullJitterStaysWithinZeroAndTheExponentialBound() {
    let p = ReconnectPolicy(kind: .fullJitter, base: 100 * ms, cap: 5_000 * ms)
    var r = SeededRandom(seed: 7)
    for attempt in 0..<10 {
        let bound = min(5_000 * ms, 100 * ms << Int64(attempt))
        var seenLow = false, seenHigh = false
        for _ in 0..<2_000 {
            let d = p.delay(attempt: attempt, previous: 0, random: &r)
            #expect(d >= 0 && d <= bound)
            if d < bound / 4 { seenLow = true }
            if d > bound * 3 / 4 { seenHigh = true }
        }
        #expect(seenLow && seenHigh, "full jitter should cover its whole range at attempt \(attempt)")
    }
}

@Test func equalJitterKeepsAtLeastHalfTheExponentialBound() {
    let p = ReconnectPolicy(kind: .equalJitter, base: 100 * ms, cap: 5_000 * ms)
    var r = SeededRandom(seed: 8)
    for attempt in 0..<10 {
        let bound = min(5_000 * ms, 100 * ms << Int64(attempt))
        for _ in 0..<1_000 {
            let d = p.delay(attempt: attempt, previous: 0, random: &r)
            #expect(d >= bound / 2 && d <= bound)
        }
    }
}

@Test func decorrelatedJitterGrowsFromThePreviousDelayAndRespectsTheCap() {
    let p = ReconnectPolicy(kind: .decorrelatedJitter, base: 100 * ms, cap: 2_000 * ms)
    var r = SeededRandom(seed: 9)
    var previous: Nanoseconds = 0
    for _ in 0..<5_000 {
        let d = p.delay(attempt: 0, previous: previous, random: &r)
        let last = previous > 0 ? previous : 100 * ms
        #expect(d >= 100 * ms && d <= min(2_000 * ms, 3 * last))
        previous = d
    }
}

@Test func uniformRandomTimeoutCoversItsWindow() {
    let p = ReconnectPolicy.random1to30s
    var r = SeededRandom(seed: 10)
    let delays = (0..<10_000).map { _ in p.delay(attempt: 0, previous: 0, random: &r) }
    #expect(delays.allSatisfy { $0 >= Time.second && $0 <= 30 * Time.second })
    let mean = Double(delays.reduce(0, +)) / Double(delays.count) / 1e9
    #expect(abs(mean - 15.5) < 0.5)
}

@Test func sameSeedGivesTheSameDelays() {
    for kind in ReconnectPolicy.Kind.allCases {
        let p = ReconnectPolicy(kind: kind, base: 50 * ms, cap: 10_000 * ms)
        var a = SeededRandom(seed: 42, stream: 3), b = SeededRandom(seed: 42, stream: 3), c = SeededRandom(seed: 43, stream: 3)
        let da = (0..<20).map { p.delay(attempt: $0, previous: 0, random: &a) }
        let db = (0..<20).map { p.delay(attempt: $0, previous: 0, random: &b) }
        let dc = (0..<20).map { p.delay(attempt: $0, previous: 0, random: &c) }
        #expect(da == db)
        if kind != .constant && kind != .exponential { #expect(da != dc) }
    }
}
