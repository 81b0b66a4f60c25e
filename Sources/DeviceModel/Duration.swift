/// Simulated and real time in integer nanoseconds.
///
/// Integers, not floating point, so that event times compare exactly and a run is reproducible
/// on any machine. `Int64` nanoseconds cover ±292 years.
public typealias Nanoseconds = Int64

public enum Time {
    public static let nanosecond: Nanoseconds = 1
    public static let microsecond: Nanoseconds = 1_000
    public static let millisecond: Nanoseconds = 1_000_000
    public static let second: Nanoseconds = 1_000_000_000
    public static let minute: Nanoseconds = 60 * second
    public static let hour: Nanoseconds = 60 * minute

    public static func seconds(_ ns: Nanoseconds) -> Double { Double(ns) / 1e9 }
    public static func from(seconds: Double) -> Nanoseconds { Nanoseconds((seconds * 1e9).rounded()) }
}
