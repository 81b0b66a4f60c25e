/// A small, fast, seeded random number generator (SplitMix64).
///
/// Eight bytes of state, so every device can carry its own stream inside its `DeviceMachine`:
/// a device's decisions then depend only on (scenario seed, device index) and the events it saw,
/// which is what makes a simulation, a shard of it and a re-run agree bit for bit.
public struct SeededRandom: RandomNumberGenerator, Hashable, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    /// A stream for one member of a family: derived from a seed and an index by hashing, so that
    /// neighbouring indices give unrelated streams.
    public init(seed: UInt64, stream: UInt64) {
        self.state = SeededRandom.mix(seed &+ SeededRandom.mix(stream &+ 0x632B_E59B_D9B4_E019))
    }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededRandom.mix(state)
    }

    /// The SplitMix64 finaliser: a good 64-bit hash, also used for stateless draws.
    @inlinable @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    @inlinable @inline(__always)
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in [low, high] (inclusive); `low` when the range is empty.
    @inlinable @inline(__always)
    public mutating func uniform(_ low: Int64, _ high: Int64) -> Int64 {
        guard high > low else { return low }
        let span = UInt64(bitPattern: high &- low) &+ 1
        if span == 0 { return Int64(bitPattern: next()) }
        return low &+ Int64(bitPattern: next().multipliedFullWidth(by: span).high)
    }

    /// A uniform double in [0, 1) from a stateless hash of a key: for draws that must not depend
    /// on how many other draws happened before (e.g. the environment's network churn).
    @inlinable @inline(__always)
    public static func unit(hashing key: UInt64) -> Double {
        Double(mix(key) >> 11) * 0x1.0p-53
    }
}
