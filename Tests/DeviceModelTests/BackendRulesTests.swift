import Testing
@testable import DeviceModel

/// The backend rules the simulation's model and the reference backend share.
@Suite struct BackendRulesTests {
    // MARK: token bucket

    @Test func aBucketStartsFullAndAdmitsItsBurstAtOnce() {
        var bucket = TokenBucket(rate: 10, burst: 3, now: 0)
        let r1 = bucket.take(now: 0)
        #expect(r1)
        let r2 = bucket.take(now: 0)
        #expect(r2)
        let r3 = bucket.take(now: 0)
        #expect(r3)
        let r4 = !bucket.take(now: 0)
        #expect(r4)
    }

    @Test func aBucketRefillsAtItsRateButNeverBeyondItsBurst() {
        var bucket = TokenBucket(rate: 10, burst: 3, now: 0)
        for _ in 0..<3 { _ = bucket.take(now: 0) }
        let r5 = !bucket.take(now: 99 * Time.millisecond)
        #expect(r5)
        let r6 = bucket.take(now: 150 * Time.millisecond)
        #expect(r6, "one token per 100 ms")
        let r7 = !bucket.take(now: 150 * Time.millisecond)
        #expect(r7)
        let later = 100 * Time.second
        let r8 = bucket.take(now: later) && bucket.take(now: later) && bucket.take(now: later)
        #expect(r8)
        let r9 = !bucket.take(now: later)
        #expect(r9, "a long quiet period refills only up to the burst")
    }

    @Test func aBucketSaysHowLongUntilItsNextToken() {
        var bucket = TokenBucket(rate: 4, burst: 1, now: 0)
        #expect(bucket.timeUntilToken(now: 0) == 0)
        let r10 = bucket.take(now: 0)
        #expect(r10)
        #expect(bucket.timeUntilToken(now: 0) == 250 * Time.millisecond)
        #expect(bucket.timeUntilToken(now: 100 * Time.millisecond) == 150 * Time.millisecond)
        #expect(bucket.timeUntilToken(now: Time.second) == 0)
        #expect(bucket.tokens == 0 && bucket.last == 0, "asking does not change the bucket")
    }

    @Test func aBucketComputesExactlyAsTheSimulationDid() {
        // The engine's arithmetic, written out: refill min(burst, tokens + Δt/1e9·rate), take at ≥ 1.
        var bucket = TokenBucket(rate: 7.3, burst: TokenBucket.defaultBurst(rate: 7.3), now: 5)
        var tokens = 7.3, last: Nanoseconds = 5
        var t: Nanoseconds = 5
        for step in 0..<2_000 {
            t += Nanoseconds((step * 7_919) % 400_000_000)
            tokens = min(7.3, tokens + Double(t - last) / 1e9 * 7.3)
            last = t
            let expected = tokens >= 1
            if expected { tokens -= 1 }
            let r11 = bucket.take(now: t) == expected
            #expect(r11)
            #expect(bucket.tokens == tokens)
        }
    }

    // MARK: admission gate

    @Test func aPendingRefusalComesFirstAndConsumesNoToken() {
        var gate = AdmissionGate(policy: AdmissionPolicy(connectRate: 1, burst: 1, maxPending: 2), now: 0)
        let r12 = gate.admit(pending: 2, now: 0) == .refused(reason: .pending, retryAfter: Time.second)
        #expect(r12)
        let r13 = gate.admit(pending: 5, now: 0) == .refused(reason: .pending, retryAfter: Time.second)
        #expect(r13)
        #expect(gate.bucket?.tokens == 1)
        let r14 = gate.admit(pending: 1, now: 0) == .admitted
        #expect(r14)
        let r15 = gate.admit(pending: 0, now: 0) == .refused(reason: .rate, retryAfter: Time.second)
        #expect(r15)
    }

    @Test func aRateRefusalSaysWhenTheNextTokenComesInWholeSecondsAtLeastOne() {
        var gate = AdmissionGate(policy: AdmissionPolicy(connectRate: 0.25, burst: 1), now: 0)
        let r16 = gate.admit(pending: 0, now: 0) == .admitted
        #expect(r16)
        let r17 = gate.admit(pending: 0, now: 500 * Time.millisecond) == .refused(reason: .rate, retryAfter: 4 * Time.second)
        #expect(r17)
        let r18 = gate.admit(pending: 0, now: 3_500 * Time.millisecond) == .refused(reason: .rate, retryAfter: Time.second)
        #expect(r18)
        var fast = AdmissionGate(policy: AdmissionPolicy(connectRate: 1000, burst: 1), now: 0)
        let r19 = fast.admit(pending: 0, now: 0) == .admitted
        #expect(r19)
        let r20 = fast.admit(pending: 0, now: 0) == .refused(reason: .rate, retryAfter: Time.second)
        #expect(r20)
    }

    @Test func aConfiguredRetryAfterIsGivenForEitherRefusal() {
        let policy = AdmissionPolicy(connectRate: 1, burst: 1, maxPending: 1, retryAfter: 30 * Time.second)
        var gate = AdmissionGate(policy: policy, now: 0)
        let r21 = gate.admit(pending: 1, now: 0) == .refused(reason: .pending, retryAfter: 30 * Time.second)
        #expect(r21)
        let r22 = gate.admit(pending: 0, now: 0) == .admitted
        #expect(r22)
        let r23 = gate.admit(pending: 0, now: 0) == .refused(reason: .rate, retryAfter: 30 * Time.second)
        #expect(r23)
    }

    @Test func aGateWithoutLimitsAdmitsEverything() {
        var gate = AdmissionGate(policy: AdmissionPolicy(), now: 0)
        #expect(gate.policy.isOff && gate.bucket == nil)
        for i in 0..<1_000 { let verdict = gate.admit(pending: i, now: 0); #expect(verdict == .admitted) }
    }

    @Test func theDefaultBurstIsOneSecondOfTheRate() {
        #expect(AdmissionPolicy(connectRate: 200).effectiveBurst == 200)
        #expect(AdmissionGate(policy: AdmissionPolicy(connectRate: 12.5), now: 0).bucket?.burst == 12.5)
        #expect(AdmissionPolicy(maxPending: 3).effectiveBurst == nil)
    }

    // MARK: block list

    @Test func blockingAndUnblockingARange() throws {
        var list = FirmwareBlockList()
        let beta = try FirmwareRange(parsing: ">=3.8.0-b3")
        #expect(!list.contains(FirmwareVersion("3.8.0-b3")!))
        let first = list.block(beta), second = list.block(beta)
        #expect(first)
        #expect(!second, "already blocked")
        #expect(list.contains(FirmwareVersion("3.8.0-b3")!))
        #expect(list.contains(FirmwareVersion("3.9.0")!))
        #expect(!list.contains(FirmwareVersion("3.8.0-b2")!))
        let removed = list.unblock(beta), again = list.unblock(beta)
        #expect(removed)
        #expect(!again, "not blocked any more")
        #expect(list.isEmpty && !list.contains(FirmwareVersion("3.9.0")!))
    }

    // MARK: lookup policy and close codes

    @Test func theLookupPolicyPicksTheFirstMatchingRule() throws {
        let policy = try LookupPolicy(parsing: "indexed:3.8.0-b4; scan:>=3.8.0-b3")
        #expect(policy.kind(for: FirmwareVersion("3.8.0-b4")!) == .indexed)
        #expect(policy.kind(for: FirmwareVersion("3.8.0-b3")!) == .scan)
        #expect(policy.kind(for: FirmwareVersion("3.7.2")!) == .indexed)
    }

    @Test func closeCodesSayWhatTheyMean() {
        #expect(DeviceCloseCode.meaning(DeviceCloseCode.firmwareBlocked) == "firmware blocked")
        #expect(DeviceCloseCode.meaning(1013) == "try again later")
        #expect(DeviceCloseCode.meaning(4008) == "no hello in time")
        #expect(DeviceCloseCode.meaning(1011) == "internal error")
        #expect(DeviceCloseCode.meaning(1008) == "policy violation")
        #expect(DeviceCloseCode.meaning(4999) == "application close code 4999")
    }
}
