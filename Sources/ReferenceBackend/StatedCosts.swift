import CFleetSimSupport
import DeviceModel
import Foundation
import NIOCore

/// A database of a stated capacity, as a database instance class is: each query kind holds its
/// worker for the cost the configuration states, whatever machine the backend runs on.
///
/// The real query always runs (a scan still reads every row, an update is still written); when it
/// finishes sooner than its stated cost, the worker sleeps for the rest (the *padding*), so the
/// database's capacity (workers ÷ stated cost) is what the scenario says, not what this machine's
/// speed makes it. A real query slower than its stated cost is not shortened: it holds its worker
/// as long as it really took, and is counted (`slower`), so a run on a machine too slow for its
/// scenario says so in its report instead of quietly telling another story.
///
/// Why holding rather than resizing the table: machines of one kind differ by 2× in the speed of
/// the same scan, and by more while something else runs. A table sized from a scan speed measured
/// at start is wrong as soon as the load changes; a stated cost with headroom (the real scan a
/// fraction of it) holds in both cases, and a sleeping worker costs no CPU.
public struct StatedQueryCosts: Sendable, Equatable, Codable {
    /// A lookup by full scan (the whole table read). nil: as long as the real query takes.
    public var scan: TimeAmount?
    /// A lookup by index.
    public var indexed: TimeAmount?
    /// One heartbeat's `last_seen` update: a flush of n updates is stated to cost n times this.
    public var heartbeat: TimeAmount?

    public init(scan: TimeAmount? = nil, indexed: TimeAmount? = nil, heartbeat: TimeAmount? = nil) {
        self.scan = scan
        self.indexed = indexed
        self.heartbeat = heartbeat
    }

    /// No cost stated: every query takes what it takes.
    public var isEmpty: Bool { scan == nil && indexed == nil && heartbeat == nil }

    /// The stated cost of one query of `kind` (`units`: updates in a `last_seen` flush), in
    /// nanoseconds; nil when none is stated.
    func nanoseconds(_ kind: QueryKind, units: Int = 1) -> UInt64? {
        let each: TimeAmount?
        switch kind {
        case .scan: each = scan
        case .indexed: each = indexed
        case .touch: each = heartbeat
        case .register: each = nil
        }
        guard let each else { return nil }
        return UInt64(max(0, each.nanoseconds)) * UInt64(max(1, units))
    }
}

/// Holds a database worker for its queries' stated costs.
///
/// A worker keeps a balance: each query faster than its stated cost adds what it owes (stated −
/// real), and the worker sleeps the balance off once it reaches `settleAt` (1 ms). A scan stated
/// at 40 ms is held at once; indexed lookups stated at 0.2 ms are paid a few at a time, so the
/// kernel's wake-up latency (tens to hundreds of µs on a loaded machine) is paid once per
/// millisecond, not once per query. What a sleep overshoots, and what a query takes beyond its
/// stated cost, is credited against the next queries (a balance below zero, bounded at
/// `maxCredit`), so over a run the worker is held for the sum of its stated costs, whatever the
/// scheduler does, unless the queries are slower than stated on the whole.
enum CostHold {
    static let settleAt: Int64 = 1_000_000
    static let maxCredit: Int64 = -5_000_000

    struct Balance {
        /// Nanoseconds owed (positive) or overslept (negative).
        var owed: Int64 = 0
    }

    /// Called once by each database worker thread: its sleeps wake within a few microseconds
    /// of their deadline instead of the kernel's default 50 µs slack.
    static func prepareWorkerThread() {
        _ = fleetsim_set_timer_slack(1_000)
    }

    /// Adds a query's padding (`stated − real`, or nothing when it was slower) to `balance`,
    /// and sleeps it off when it is due. Returns the nanoseconds slept (0 when not due).
    @discardableResult
    static func charge(_ balance: inout Balance, real: UInt64, stated: UInt64) -> UInt64 {
        // A query slower than stated borrows its excess from the padding still to come (down to
        // `maxCredit`): a lookup the scheduler preempted costs capacity only once.
        balance.owed = max(maxCredit, balance.owed + Int64(stated) - Int64(real))
        guard balance.owed >= settleAt else { return 0 }
        let slept = sleep(nanoseconds: UInt64(balance.owed))
        balance.owed = max(maxCredit, balance.owed - Int64(slept))
        return slept
    }

    /// Sleeps the calling thread for about `nanoseconds`; returns how long it really slept.
    static func sleep(nanoseconds: UInt64) -> UInt64 {
        let start = DispatchTime.now().uptimeNanoseconds
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        return DispatchTime.now().uptimeNanoseconds - start
    }
}

/// What the database measured of itself at start, before the listener opened: the real cost of
/// each lookup kind on this machine now, against what the configuration states.
public struct DatabaseProbe: Sendable, Equatable {
    /// Median real scan lookup, in seconds, and how many were run.
    public var scanSeconds: Double
    public var scanSamples: Int
    /// Median real indexed lookup, in seconds, and how many were run.
    public var indexedSeconds: Double
    public var indexedSamples: Int

    /// Runs scans (at least 3, up to `scans` or about `budget` seconds) and indexed lookups of a
    /// UUID that is not in the table (a scan's miss costs what its hit costs), and takes medians.
    static func run(_ connection: RegistryConnection, scans: Int = 7, indexed: Int = 200,
                    budget: Double = 1.5) throws -> DatabaseProbe {
        let uuid = "00000000-0000-4000-8000-00000000f00d"
        func time(_ kind: LookupKind) throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try connection.lookup(uuid: uuid, kind: kind)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        var scanTimes: [Double] = []
        var spent = 0.0
        while scanTimes.count < scans && (scanTimes.count < 3 || spent < budget) {
            let t = try time(.scan)
            scanTimes.append(t)
            spent += t
        }
        let indexedTimes = try (0..<indexed).map { _ in try time(.indexed) }
        return DatabaseProbe(scanSeconds: Statistics.median(scanTimes), scanSamples: scanTimes.count,
                             indexedSeconds: Statistics.median(indexedTimes), indexedSamples: indexedTimes.count)
    }
}
