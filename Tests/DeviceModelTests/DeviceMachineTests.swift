import Testing
@testable import DeviceModel

private let s = Time.second

private func behaviour(_ policy: ReconnectPolicy = ReconnectPolicy(kind: .constant, base: 5 * Time.second, cap: 5 * Time.second)) -> DeviceBehaviour {
    DeviceBehaviour(heartbeat: 60 * s, handshakeTimeout: 10 * s, ackTimeout: 30 * s, connectTimeout: 15 * s, reconnect: policy)
}

@Test func aDeviceConnectsSaysHelloAndHeartbeatsOnceWelcomed() {
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    let b = behaviour()
    let start = m.start(now: 0, behaviour: b)
    #expect(start.connect && start.timer == .connect && start.timerAt == 15 * s)
    let up = m.transportUp(now: 1 * s, behaviour: b)
    #expect(up.send == .hello && up.timer == .handshake && up.timerAt == 11 * s)
    let welcome = m.received(.welcome, now: 2 * s, behaviour: b)
    #expect(m.isOnline && welcome.note == .online && welcome.timer == .heartbeat && welcome.timerAt == 62 * s)
    let beat = m.timerFired(token: welcome.timerToken, now: 62 * s, behaviour: b)
    #expect(beat.send == .heartbeat && beat.seq == 1 && beat.timer == .ack && beat.timerAt == 92 * s)
    let ack = m.received(.ack(seq: 1), now: 63 * s, behaviour: b)
    #expect(ack.timer == .heartbeat && ack.timerAt == 123 * s && m.state == .online)
}

@Test func aStaleTimerIsIgnored() {
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    let b = behaviour()
    let start = m.start(now: 0, behaviour: b)
    _ = m.transportUp(now: 1 * s, behaviour: b)
    #expect(m.timerFired(token: start.timerToken, now: 15 * s, behaviour: b) == Actions())
    #expect(m.state == .handshaking)
}

@Test func aHandshakeTimeoutClosesAndSchedulesTheRetry() {
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    let b = behaviour()
    _ = m.start(now: 0, behaviour: b)
    let up = m.transportUp(now: 1 * s, behaviour: b)
    let timeout = m.timerFired(token: up.timerToken, now: 11 * s, behaviour: b)
    #expect(timeout.close && timeout.note == .handshakeTimeout && timeout.timer == .reconnect && timeout.timerAt == 16 * s)
    let retry = m.timerFired(token: timeout.timerToken, now: 16 * s, behaviour: b)
    #expect(retry.connect && m.state == .connecting && m.attempt == 1)
}

@Test func aMissingAckDropsTheSession() {
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    let b = behaviour()
    _ = m.start(now: 0, behaviour: b)
    _ = m.transportUp(now: 0, behaviour: b)
    let w = m.received(.welcome, now: 0, behaviour: b)
    let beat = m.timerFired(token: w.timerToken, now: 60 * s, behaviour: b)
    #expect(m.received(.ack(seq: 99), now: 61 * s, behaviour: b) == Actions())   // wrong seq: ignored
    let timeout = m.timerFired(token: beat.timerToken, now: 90 * s, behaviour: b)
    #expect(timeout.close && timeout.note == .ackTimeout && !m.isOnline && m.state == .backoff)
}

@Test func retryAfterIsHonouredWhenLongerThanTheBackoff() {
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    let b = behaviour()
    _ = m.start(now: 0, behaviour: b)
    let rejected = m.received(.reject(code: 1013, retryAfter: 60 * s), now: 1 * s, behaviour: b)
    #expect(rejected.note == .rejected && rejected.timerAt == 61 * s)

    var n = DeviceMachine(random: SeededRandom(seed: 1))
    var ignoring = b
    ignoring.reconnect.honourRetryAfter = false
    _ = n.start(now: 0, behaviour: ignoring)
    #expect(n.received(.reject(code: 1013, retryAfter: 60 * s), now: 1 * s, behaviour: ignoring).timerAt == 6 * s)
}

@Test func aDeviceGivesUpAfterItsMaximumAttempts() {
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    var b = behaviour()
    b.reconnect.maxAttempts = 2
    var a = m.start(now: 0, behaviour: b)
    var now: Nanoseconds = 0
    for _ in 0..<2 {
        a = m.transportDown(.connectFailed, now: now, behaviour: b)
        #expect(a.timer == .reconnect)
        now = a.timerAt
        a = m.timerFired(token: a.timerToken, now: now, behaviour: b)
    }
    let last = m.transportDown(.connectFailed, now: now, behaviour: b)
    #expect(last.gaveUp && last.note == .connectFailed && last.timer == nil && m.state == .gaveUp)
}

@Test func aStableSessionResetsTheAttemptCount() {
    let policy = ReconnectPolicy(kind: .exponential, base: 1 * s, cap: 60 * s, resetAfter: 120 * s)
    let b = behaviour(policy)
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    _ = m.start(now: 0, behaviour: b)
    var down = m.transportDown(.connectFailed, now: 0, behaviour: b)          // attempt 0 -> 1 s
    #expect(down.timerAt == 1 * s)
    _ = m.timerFired(token: down.timerToken, now: 1 * s, behaviour: b)
    down = m.transportDown(.connectFailed, now: 1 * s, behaviour: b)           // attempt 1 -> 2 s
    #expect(down.timerAt == 3 * s)
    _ = m.timerFired(token: down.timerToken, now: 3 * s, behaviour: b)
    _ = m.transportUp(now: 3 * s, behaviour: b)
    _ = m.received(.welcome, now: 3 * s, behaviour: b)
    // A short session does not reset the count: the next wait is 4 s.
    let short = m.transportDown(.lost, now: 10 * s, behaviour: b)
    #expect(short.timerAt == 14 * s && short.note == .lost)
    _ = m.timerFired(token: short.timerToken, now: 14 * s, behaviour: b)
    _ = m.transportUp(now: 14 * s, behaviour: b)
    _ = m.received(.welcome, now: 14 * s, behaviour: b)
    // A session that held for the reset period starts again from the base.
    let long = m.transportDown(.lost, now: 14 * s + 120 * s, behaviour: b)
    #expect(long.timerAt == 135 * s)
}

@Test func aRestartConnectsAtOnceWithACleanSlate() {
    var m = DeviceMachine(random: SeededRandom(seed: 1))
    let b = behaviour()
    _ = m.start(now: 0, behaviour: b)
    _ = m.transportDown(.connectFailed, now: 0, behaviour: b)
    let restart = m.restart(now: 2 * s, behaviour: b)
    #expect(restart.connect && restart.close && m.attempt == 0 && m.state == .connecting)
}

@Test func aWarmDeviceStartsOnlineWithAHeartbeatWithinOneInterval() {
    let b = behaviour()
    var phases: Set<Nanoseconds> = []
    for i in 0..<50 {
        var m = DeviceMachine(random: SeededRandom(seed: 5, stream: UInt64(i)))
        let a = m.resume(now: 0, behaviour: b)
        #expect(m.isOnline && a.timer == .heartbeat && a.timerAt > 0 && a.timerAt <= 60 * s)
        phases.insert(a.timerAt)
    }
    #expect(phases.count > 40, "warm devices must not beat in unison")
}

@Test func theMachineStaysSmall() {
    // The engine packs its own fields into the machine's tail padding: one cache line a device.
    #expect(MemoryLayout<DeviceMachine>.size <= 35)
}
