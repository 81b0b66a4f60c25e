/// Masking keys for one connection: SplitMix64 seeded from the system's entropy when the connection
/// is created. RFC 6455 §5.3 asks for unpredictable keys to stop a hostile script in a browser from
/// steering bytes on the wire; this client sends only what its caller chose, and one `getrandom`
/// syscall per frame would cost more CPU than the rest of a heartbeat round trip.
struct MaskKeyGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt32 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt32(truncatingIfNeeded: z ^ (z >> 31))
    }
}
