import DeviceModel

/// The backend's faults in force (`http-errors`, `latency`, `db-errors`, `dns-failure`), as the
/// engine's hot path reads them: a few plain fields, all off (zero) in a run without faults, so
/// such a run takes the same paths with the same numbers as before faults existed.
///
/// Which timeline event owns a fault (a later one of a kind replaces an earlier one, whose end
/// then changes nothing) is the `TimelineInterpreter`'s to track; outages and gateway failures
/// need no state here: they take gateways down for the fault's duration.
struct FaultState {
    /// `http-errors`: the fraction of upgrades answered `httpStatus`, with `httpRetryAfter`.
    var httpFraction = 0.0
    var httpStatus = 503
    var httpRetryAfter: Nanoseconds?
    /// `latency`: added to the backend's answer to a hello or a heartbeat.
    var addedLatency: Nanoseconds = 0
    /// `db-errors`: the fraction of database queries that fail.
    var dbErrorFraction = 0.0
    /// `dns-failure`: the name does not resolve while this is set.
    var dnsFailing = false

    /// Whether this draw (device, connection or heartbeat number, kind of fault) falls in
    /// `fraction`: a hash of the run's seed, so a run and its re-run fail the same attempts.
    @inline(__always)
    static func draw(seed: UInt64, device d: Int, number: UInt32, salt: UInt64, fraction: Double) -> Bool {
        SeededRandom.unit(hashing: seed ^ UInt64(d) &* 0x9E37_79B9 ^ UInt64(number) << 36 ^ salt) < fraction
    }
}
