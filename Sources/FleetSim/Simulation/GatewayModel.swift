import DeviceModel

/// One gateway process of the backend model: connections and in-flight handshakes cost memory;
/// past its limit it crashes, drops every connection, and comes back after a restart delay.
struct GatewayModel {
    var up = true
    /// Incremented at each crash or restart: work and connections of an older generation are gone.
    var generation: UInt32 = 0
    var open = 0
    var pending = 0
    var crashes = 0
    /// Head of the list of devices attached in this generation (-1: none).
    var firstDevice: Int32 = -1

    @inline(__always)
    func memory(_ spec: Scenario.Gateways) -> Int64 {
        spec.memoryBase + Int64(open) * spec.perConnection + Int64(pending) * spec.perPending
    }
}

/// Admission control's connect-rate limiter.
struct TokenBucket {
    var rate: Double
    var burst: Double
    var tokens: Double
    var last: Nanoseconds

    init(rate: Double, burst: Double, now: Nanoseconds) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now
    }

    mutating func take(now: Nanoseconds) -> Bool {
        tokens = min(burst, tokens + Double(now - last) / 1e9 * rate)
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
