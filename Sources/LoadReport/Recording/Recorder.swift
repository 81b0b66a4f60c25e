import Foundation

/// What a run measured, fed by a driver with plain observations: device events as they happen
/// (with their time, nanoseconds of scenario time) and, once per interval, a sample of the
/// backend. The simulation engine owns one; a live run owns one on its coordinator, which takes
/// in what its event loops' own recorders counted at every interval (`handOver`, `absorb`).
/// Neither driver knows how the other produced its observations.
///
/// It keeps the counters, the per-interval series, the mass-disconnect episodes and the
/// milestones, and builds the `fleetsim.report/1` report at any time (mid-run too, so that
/// `abort_on_fail` thresholds can be checked at every interval). Shards of a run (separate
/// processes) combine by their reports: `ReportMerge.merge`.
///
/// The event methods are inlinable and allocate nothing: they run for every device event.
/// One recorder per thread; copies share the group table, so don't copy a recorder in use.
public struct Recorder {
    /// Event counts, for one interval or for the run.
    public struct Counters: Sendable, Equatable {
        public var connectAttempts = 0, connects = 0, disconnects = 0
        public var handshakeTimeouts = 0, ackTimeouts = 0, rejects = 0, crashes = 0
        /// Connect attempts that failed because the backend's name did not resolve.
        public var dnsFailures = 0
        /// Error replies to a device's message (a failed operation) that did not end its session.
        public var featureErrors = 0

        public init() {}

        public mutating func add(_ o: Counters) {
            connectAttempts += o.connectAttempts; connects += o.connects; disconnects += o.disconnects
            handshakeTimeouts += o.handshakeTimeouts; ackTimeouts += o.ackTimeouts
            rejects += o.rejects; crashes += o.crashes
            dnsFailures += o.dnsFailures; featureErrors += o.featureErrors
        }
    }

    /// What the backend looked like at the end of an interval: the model's state in simulation,
    /// the scraped metrics in a live run.
    public struct BackendSample: Sendable, Equatable {
        /// Database busy fraction over the interval (0…1).
        public var dbUtilization: Double
        /// How long a new database query would wait, seconds.
        public var dbWaitS: Double
        public var pendingHandshakes: Int
        /// Memory of the backend processes that are up.
        public var memoryBytes: Int64

        public init(dbUtilization: Double = 0, dbWaitS: Double = 0, pendingHandshakes: Int = 0, memoryBytes: Int64 = 0) {
            self.dbUtilization = dbUtilization
            self.dbWaitS = dbWaitS
            self.pendingHandshakes = pendingHandshakes
            self.memoryBytes = memoryBytes
        }
    }

    /// What the report says about the run besides the measurements.
    public struct RunInfo: Sendable {
        public var mode: String
        public var scenario: String
        public var seed: UInt64
        public var clockStart: String?
        public var devices: Int
        /// Thresholds to evaluate, as (metric, expression).
        public var thresholds: [(metric: String, expression: String)]
        /// The shard of the fleet (`i/n`), when the run drives one (`Report.shard`).
        public var shard: String?

        public init(mode: String, scenario: String, seed: UInt64, clockStart: String?, devices: Int,
                    thresholds: [(metric: String, expression: String)]) {
            self.mode = mode
            self.scenario = scenario
            self.seed = seed
            self.clockStart = clockStart
            self.devices = devices
            self.thresholds = thresholds
        }
    }

    @usableFromInline struct Episode {
        @usableFromInline var t: Int64
        @usableFromInline var cause: String
        @usableFromInline var devices: Int
        @usableFromInline var back = 0
        @usableFromInline var t50: Int64?
        @usableFromInline var t95: Int64?

        @usableFromInline init(t: Int64, cause: String, devices: Int) {
            self.t = t
            self.cause = cause
            self.devices = devices
        }
    }

    public let interval: Int64
    @usableFromInline let groups: GroupTallies
    /// This interval's counts (not yet in the series).
    @usableFromInline var counters = Counters()
    /// The counts of every closed interval.
    @usableFromInline var totals = Counters()
    @usableFromInline var handshakes = LatencyRecorder()
    @usableFromInline var intervalHandshakes = LatencyRecorder()
    public private(set) var series: Report.Series
    public private(set) var milestones: [Report.Milestone] = []
    private var tracker = MilestoneTracker()
    @usableFromInline var episodes: [Episode] = [Episode(t: 0, cause: "", devices: 0)]   // index 0: none
    @usableFromInline var currentSecond: Int64 = -1
    @usableFromInline var attemptsThisSecond = 0
    @usableFromInline var peakAttemptsPerSecond = 0
    /// The busiest second since the interval (or the hand-over) began.
    @usableFromInline var intervalPeakAttempts = 0
    @usableFromInline var peakMemory: Int64 = 0
    /// A live loop's recorder (`handsOver`) keeps its attempts per second since the last hand-over,
    /// so that the coordinator finds the fleet's busiest second exactly (`absorb`).
    public var handsOver = false
    /// A live run's recorder keeps each interval's handshakes (`Report.Histograms.handshakeUsByInterval`).
    public var keepsIntervalHistograms = false
    var intervalHistograms: [LatencyRecorder.Buckets] = []
    @usableFromInline var attemptSeconds: [SecondCount] = []
    /// The coordinator's: attempts per recent second, summed over the loops.
    var recentSeconds: [Int64: Int] = [:]
    /// The coordinator's, when it `keepsIntervalHistograms`: every second done, in order.
    var doneSeconds: [[Int64]] = []
    /// The coordinator's: losses found in the loops' parts, joined into mass disconnects.
    var losses = LossClusters()
    @usableFromInline var intervalPeakMemory: Int64 = 0

    /// - Parameters:
    ///   - interval: the report's resolution, nanoseconds.
    ///   - groups: how many device groups the fleet has (eligibility is counted per group).
    public init(interval: Int64, groups: Int) {
        self.interval = interval
        self.groups = GroupTallies(count: groups)
        self.series = Report.Series(intervalS: Double(interval) / 1e9)
    }

    // MARK: Device events

    /// A device of `group` joined the fleet. `connecting`: it begins its first connect attempt
    /// and counts as eligible once that attempt is over (`settled`): a device still in its first
    /// handshake is not yet missing, so a healthy cold start is not a dip in the online fraction.
    /// Otherwise it counts as eligible from now on.
    @inlinable @inline(__always)
    public mutating func joined(group: Int, connecting: Bool = false) {
        groups.items[group].joined += 1
        if connecting { groups.items[group].joining += 1 }
    }

    /// A device of `group` ended its first connect attempt (welcomed, or failed): it counts as
    /// eligible from now on.
    @inlinable @inline(__always)
    public mutating func settled(group: Int) { groups.items[group].joining -= 1 }

    /// A connect attempt began at `now`.
    @inlinable @inline(__always)
    public mutating func attempt(at now: Int64) {
        counters.connectAttempts += 1
        let second = now / 1_000_000_000
        if second != currentSecond {
            if handsOver && attemptsThisSecond > 0 { attemptSeconds.append(.init(second: currentSecond, count: attemptsThisSecond)) }
            currentSecond = second
            attemptsThisSecond = 0
        }
        attemptsThisSecond += 1
        if attemptsThisSecond > intervalPeakAttempts { intervalPeakAttempts = attemptsThisSecond }
    }

    /// A device went online; `initial`: it joined already online (a warm fleet), which is not a connect.
    @inlinable @inline(__always)
    public mutating func online(group: Int, initial: Bool) {
        groups.items[group].online += 1
        if !initial { counters.connects += 1 }
    }

    /// A device's handshake took this long (connect attempt to welcome).
    @inlinable @inline(__always)
    public mutating func handshake(nanoseconds: Int64) {
        handshakes.record(nanoseconds: nanoseconds)
        intervalHandshakes.record(nanoseconds: nanoseconds)
    }

    /// A device that was online is not any more.
    @inlinable @inline(__always)
    public mutating func offline(group: Int) {
        groups.items[group].online -= 1
        counters.disconnects += 1
    }

    @inlinable @inline(__always) public mutating func handshakeTimeout() { counters.handshakeTimeouts += 1 }
    @inlinable @inline(__always) public mutating func ackTimeout() { counters.ackTimeouts += 1 }
    /// The backend refused a device (a close code or an HTTP status at upgrade).
    @inlinable @inline(__always) public mutating func rejected() { counters.rejects += 1 }
    /// A connect attempt failed because the backend's name did not resolve (counted apart from
    /// other connect failures: the backend never saw it).
    @inlinable @inline(__always) public mutating func dnsFailure() { counters.dnsFailures += 1 }
    /// The backend answered `count` of the devices' messages with an error, sessions kept.
    @inlinable @inline(__always) public mutating func featureErrors(_ count: Int) { counters.featureErrors += count }

    /// A device of `group` left the fleet (powered off, removed): it is no longer eligible.
    /// `settled`: its first attempt was over.
    public mutating func left(group: Int, wasOnline: Bool, settled: Bool = true) {
        if wasOnline { offline(group: group) }
        if !settled { groups.items[group].joining -= 1 }
        groups.items[group].joined -= 1
    }

    /// The backend's memory as seen now; the interval's peak is kept.
    @inlinable @inline(__always)
    public mutating func memory(_ bytes: Int64) {
        if bytes > intervalPeakMemory { intervalPeakMemory = bytes }
    }

    /// Firmware of `group` is blocked (or unblocked): its devices leave (or rejoin) the
    /// denominator of the online fraction, so a block does not cap recovery.
    public mutating func setBlocked(group: Int, _ blocked: Bool) { groups.items[group].blocked = blocked }

    // MARK: Backend events and milestones

    /// A backend process crashed at `now`.
    public mutating func crash(at now: Int64, detail: String) {
        counters.crashes += 1
        milestone(.backendCrash, detail, at: now)
    }

    /// A scheduled timeline event was applied (or a hook ran).
    public mutating func timeline(at now: Int64, _ detail: String) { milestone(.timeline, detail, at: now) }

    /// A scheduled timeline event whose text counts what it did (`Report.Milestone.template`).
    public mutating func timeline(at now: Int64, template: String, counts: [Int]) {
        milestones.append(Report.Milestone(tS: Double(now) / 1e9, kind: .timeline, detail: Report.Milestone.fill(template, counts),
                                           template: template, counts: counts))
    }

    public mutating func milestone(_ kind: Report.Milestone.Kind, _ detail: String, at now: Int64) {
        milestones.append(Report.Milestone(tS: Double(now) / 1e9, kind: kind, detail: detail))
    }

    // MARK: Mass disconnects

    /// Starts a mass-disconnect episode when enough online devices drop at once (at least 10,
    /// and 1% of the eligible fleet); returns its id, 0 when it is too small to be one. The driver
    /// tags each dropped device with the id and calls `back(episode:at:)` when it is online again.
    public mutating func beginEpisode(at now: Int64, cause: String, onlineDropped: Int) -> UInt32 {
        guard onlineDropped >= max(10, (eligibleCount + 99) / 100) else { return 0 }
        episodes.append(Episode(t: now, cause: cause, devices: onlineDropped))
        return UInt32(episodes.count - 1)
    }

    /// A device dropped in episode `e` is online again.
    @inlinable @inline(__always)
    public mutating func back(episode e: Int, at now: Int64) {
        episodes[e].back += 1
        let n = episodes[e].devices
        if episodes[e].t50 == nil, episodes[e].back * 2 >= n { episodes[e].t50 = now }
        if episodes[e].t95 == nil, episodes[e].back * 100 >= n * 95 { episodes[e].t95 = now }
    }

    // MARK: Online accounting

    /// Online devices whose firmware is allowed to connect: the numerator of the online fraction.
    public var eligibleOnline: Int {
        var n = 0
        for g in groups.items where !g.blocked { n += g.online }
        return n
    }

    /// Joined devices whose firmware is allowed to connect and whose first attempt is over (or
    /// who are online): the denominator of the online fraction.
    public var eligibleCount: Int {
        var n = 0
        for g in groups.items where !g.blocked { n += g.joined - g.joining }
        return n
    }

    public var onlineFraction: Double {
        let eligible = eligibleCount
        return eligible == 0 ? 1 : Double(eligibleOnline) / Double(eligible)
    }

    /// Devices of `group` online now.
    public func online(group: Int) -> Int { groups.items[group].online }

    /// Devices online, blocked firmware included (sessions a block does not end).
    public var onlineDevices: Int { groups.items.reduce(0) { $0 + $1.online } }

    /// This interval's counts so far.
    public var currentCounters: Counters { counters }
    /// Handshakes recorded here and not yet handed over (a loop's), or every one absorbed (the
    /// coordinator's): the live metrics endpoint's histogram.
    public var handshakesSinceHandOver: LatencyRecorder { intervalHandshakes }
    public var allHandshakes: LatencyRecorder { handshakes }

    // MARK: Intervals

    /// Closes the interval ending at `now`: appends a row to the series, feeds the milestone
    /// tracker, and starts the next interval's counts.
    public mutating func closeInterval(at now: Int64, backend: BackendSample) {
        let eligible = eligibleCount
        let eligibleOnline = self.eligibleOnline
        series.tS.append(Double(now) / 1e9)
        series.online.append(eligibleOnline)
        series.eligible.append(eligible)
        series.connects.append(counters.connects)
        series.disconnects.append(counters.disconnects)
        series.connectAttempts.append(counters.connectAttempts)
        series.handshakeTimeouts.append(counters.handshakeTimeouts)
        series.ackTimeouts.append(counters.ackTimeouts)
        series.rejects.append(counters.rejects)
        series.crashes.append(counters.crashes)
        series.dbUtilization.append(backend.dbUtilization)
        series.dbWaitS.append(backend.dbWaitS)
        series.pendingHandshakes.append(backend.pendingHandshakes)
        series.backendMemoryBytes.append(backend.memoryBytes)
        if keepsIntervalHistograms { intervalHistograms.append(intervalHandshakes.buckets) }
        series.handshakeP50Ms.append(intervalHandshakes.percentileMs(50))
        series.handshakeP99Ms.append(intervalHandshakes.percentileMs(99))
        peakMemory = max(peakMemory, intervalPeakMemory)
        intervalPeakMemory = backend.memoryBytes
        peakAttemptsPerSecond = max(peakAttemptsPerSecond, intervalPeakAttempts)
        intervalPeakAttempts = attemptsThisSecond

        let sample = MilestoneTracker.Sample(
            t: now, interval: interval, online: eligibleOnline, eligible: eligible,
            utilization: backend.dbUtilization, waitS: backend.dbWaitS,
            handshakeTimeouts: counters.handshakeTimeouts, ackTimeouts: counters.ackTimeouts,
            attempts: counters.connectAttempts, connects: counters.connects)
        milestones += tracker.observe(sample)

        totals.add(counters)
        counters = Counters()
        intervalHandshakes.reset()
    }

    // MARK: Report

    /// The fleet's connect attempts per second so far (`Report.Histograms.connectAttemptsBySecond`):
    /// the seconds done, then the recent ones (their counts may still grow).
    var attemptsBySecond: [[Int64]] {
        doneSeconds + recentSeconds.sorted { $0.key < $1.key }.map { [$0.key, Int64($0.value)] }
    }

    /// The report of everything recorded so far; `durationS` is the scenario time covered.
    /// Counts of the interval still open are included in the totals, not in the series.
    public func report(_ info: RunInfo, durationS: Double, eventsProcessed: UInt64? = nil, wallS: Double? = nil) -> Report {
        var totals = self.totals
        totals.add(counters)
        let fractions = ReportRules.onlineFractions(series)
        let histogram = handshakes.histogram
        let utilization = ReportRules.utilization(series)
        let sortedMilestones = milestones.sorted { $0.tS < $1.tS }
        var summary = Report.Summary(
            devices: info.devices, durationS: durationS,
            onlineFractionMin: ReportRules.onlineMinimum(fractions) ?? onlineFraction,
            onlineFractionFinal: fractions.last ?? onlineFraction,
            connectAttempts: totals.connectAttempts, connects: totals.connects, disconnects: totals.disconnects,
            handshakeTimeouts: totals.handshakeTimeouts, ackTimeouts: totals.ackTimeouts, rejects: totals.rejects,
            backendCrashes: totals.crashes, recoveryS: ReportRules.recoverySeconds(milestones),
            handshakeMs: ReportRules.percentiles(histogram),
            dbUtilizationMax: utilization?.max ?? 0, dbUtilizationMean: utilization?.mean ?? 0,
            backendMemoryPeakBytes: max(peakMemory, intervalPeakMemory),
            eventsProcessed: eventsProcessed, wallS: wallS)
        summary.dnsFailures = totals.dnsFailures > 0 ? totals.dnsFailures : nil
        summary.featureErrors = totals.featureErrors > 0 ? totals.featureErrors : nil
        let storm = ReportRules.storm(episodes: massDisconnects, attempts: totals.connectAttempts, connects: totals.connects,
                                      peakReconnectRatePerS: Double(max(peakAttemptsPerSecond, intervalPeakAttempts)))
        var report = Report(mode: info.mode, scenario: info.scenario, seed: info.seed, clockStart: info.clockStart,
                            summary: summary, storm: storm, milestones: sortedMilestones, series: series,
                            thresholds: info.thresholds.map { Report.ThresholdResult(metric: $0.metric, expression: $0.expression) },
                            histograms: Report.Histograms(handshakeUs: histogram,
                                                          byInterval: keepsIntervalHistograms ? intervalHistograms : nil,
                                                          attemptsBySecond: keepsIntervalHistograms ? attemptsBySecond : nil))
        report.shard = info.shard
        return report
    }
}

/// Per-group counts in one buffer, read and written in place on the hot path (no copy-on-write
/// check per event).
@usableFromInline
final class GroupTallies {
    @usableFromInline struct Tally: Sendable {
        @usableFromInline var joined = 0
        @usableFromInline var online = 0
        /// Joined and still in their first connect attempt.
        @usableFromInline var joining = 0
        @usableFromInline var blocked = false
        @usableFromInline init() {}
    }

    @usableFromInline let items: UnsafeMutableBufferPointer<Tally>

    init(count: Int) {
        items = .allocate(capacity: max(1, count))
        _ = items.initialize(from: repeatElement(Tally(), count: items.count))
        if count == 0 { items[0].blocked = true }
    }

    deinit { items.deallocate() }
}
