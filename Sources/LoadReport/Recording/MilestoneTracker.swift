import Foundation

/// Turns interval samples into the milestones of a failure's story: the database saturates,
/// timeouts rise, a reconnect storm starts, the fleet collapses, rebounds, recovers.
///
/// Each kind has hysteresis (it fires on entering a state and re-arms only after leaving it
/// clearly), so a noisy signal gives one milestone, not one per interval. The fleet's milestones
/// (timeouts, storms, collapse) wait until the fleet is first established (≥ 95% online), so a
/// cold start is not a "storm"; database saturation is reported whenever it happens, since it may
/// be why the fleet never forms.
///
/// Every input is a column of `Report.Series`, so the milestones of a merged run (shards, or the
/// event loops of one live run) are found by replaying the merged series (`derive(from:)`), with
/// the very rule a single run used as it went.
public struct MilestoneTracker: Sendable {
    public struct Sample: Sendable {
        /// End of the interval, nanoseconds of scenario time.
        public var t: Int64
        public var interval: Int64
        public var online: Int
        public var eligible: Int
        public var utilization: Double
        /// How long a new database query waits, seconds.
        public var waitS: Double
        public var handshakeTimeouts: Int
        public var ackTimeouts: Int
        public var attempts: Int
        public var connects: Int

        public init(t: Int64, interval: Int64, online: Int, eligible: Int, utilization: Double, waitS: Double,
                    handshakeTimeouts: Int, ackTimeouts: Int, attempts: Int, connects: Int) {
            self.t = t
            self.interval = interval
            self.online = online
            self.eligible = eligible
            self.utilization = utilization
            self.waitS = waitS
            self.handshakeTimeouts = handshakeTimeouts
            self.ackTimeouts = ackTimeouts
            self.attempts = attempts
            self.connects = connects
        }
    }

    public enum FleetState: Sendable { case forming, healthy, collapsed, rebounding }

    static let minute: Int64 = 60_000_000_000
    /// How long the online fraction must hold ≥ 95% to count as recovered.
    public static let hold: Int64 = 10 * minute
    /// Saturation is judged over this window, so one busy minute of a noisy database is not
    /// called saturated.
    public static let saturationWindow: Int64 = 5 * minute

    /// The kinds this tracker derives from the series; the others (timeline, backend_crash) are
    /// events a driver records.
    public static let derivedKinds: Set<Report.Milestone.Kind> = [.dbSaturated, .timeouts, .reconnectStorm,
                                                                  .fleetCollapse, .rebound, .recovered]

    public private(set) var fleet: FleetState = .forming
    private var dbSaturated = false
    private var timeoutsHigh = false
    private var storm = false
    private var holdingSince: Int64?
    private var recentUtilization: [Double] = []

    public init() {}

    /// The tracker's milestones over a whole series, interval by interval.
    public static func derive(from series: Report.Series) -> [Report.Milestone] {
        var tracker = MilestoneTracker()
        var out: [Report.Milestone] = []
        let interval = Int64((series.intervalS * 1e9).rounded())
        for i in 0..<series.count {
            out += tracker.observe(Sample(
                t: Int64((series.tS[i] * 1e9).rounded()), interval: interval, online: series.online[i],
                eligible: series.eligible[i], utilization: series.dbUtilization[i], waitS: series.dbWaitS[i],
                handshakeTimeouts: series.handshakeTimeouts[i], ackTimeouts: series.ackTimeouts[i],
                attempts: series.connectAttempts[i], connects: series.connects[i]))
        }
        return out
    }

    public mutating func observe(_ s: Sample) -> [Report.Milestone] {
        var out: [Report.Milestone] = []
        func add(_ kind: Report.Milestone.Kind, _ detail: String, at t: Int64 = s.t) {
            out.append(Report.Milestone(tS: Double(t) / 1e9, kind: kind, detail: detail))
        }
        let fraction = s.eligible == 0 ? 1 : Double(s.online) / Double(s.eligible)
        let minutes = Double(s.interval) / Double(MilestoneTracker.minute)
        var per: String { minutes == 1 ? "minute" : ReportFormat.duration(s.interval) }

        let window = max(1, Int(MilestoneTracker.saturationWindow / max(1, s.interval)))
        recentUtilization.append(s.utilization)
        if recentUtilization.count > window { recentUtilization.removeFirst() }
        let busy = recentUtilization.reduce(0, +) / Double(recentUtilization.count)
        if !dbSaturated, recentUtilization.count == window, busy >= 0.95 {
            dbSaturated = true
            add(.dbSaturated, String(format: "database %.0f%% busy over the last %@; a new query waits %.1f s",
                                     busy * 100, ReportFormat.duration(Int64(window) * s.interval), s.waitS))
        } else if dbSaturated, busy < 0.8 {
            dbSaturated = false
        }

        guard fleet != .forming || fraction >= 0.95 else { return out }
        if fleet == .forming { fleet = .healthy }

        let timeouts = s.handshakeTimeouts + s.ackTimeouts
        let timeoutShare = s.eligible == 0 ? 0 : Double(timeouts) / Double(s.eligible)
        if !timeoutsHigh, timeoutShare >= 0.01 {
            timeoutsHigh = true
            add(.timeouts, "\(s.handshakeTimeouts) handshake and \(s.ackTimeouts) heartbeat timeouts in the last \(per)")
        } else if timeoutsHigh, timeoutShare < 0.001 {
            timeoutsHigh = false
        }

        // A storm is retries, not churn: attempts that did not end in a session.
        let failed = max(0, s.attempts - s.connects)
        let failedShare = s.eligible == 0 ? 0 : Double(failed) / Double(s.eligible)
        if !storm, failedShare >= 0.02 {
            storm = true
            add(.reconnectStorm, String(format: "%d connect attempts in the last %@ (%.0f/s), %d of them failed",
                                        s.attempts, per, Double(s.attempts) / (minutes * 60), failed))
        } else if storm, failedShare < 0.002 {
            storm = false
        }

        var percent: String { String(format: "%.1f%% online (%d of %d)", fraction * 100, s.online, s.eligible) }
        switch fleet {
        case .forming:
            break
        case .healthy:
            if fraction < 0.5 {
                fleet = .collapsed
                add(.fleetCollapse, percent)
            }
        case .collapsed:
            if fraction >= 0.5 {
                fleet = .rebounding
                holdingSince = fraction >= 0.95 ? s.t : nil
                add(.rebound, percent)
            }
        case .rebounding:
            if fraction < 0.5 {
                fleet = .collapsed
                holdingSince = nil
                add(.fleetCollapse, "relapse: " + percent)
            } else if fraction >= 0.95 {
                let since = holdingSince ?? s.t
                holdingSince = since
                if s.t - since >= MilestoneTracker.hold {
                    fleet = .healthy
                    holdingSince = nil
                    add(.recovered, percent + ", holding for \(ReportFormat.duration(MilestoneTracker.hold))", at: since)
                }
            } else {
                holdingSince = nil
            }
        }
        return out
    }
}
