import DeviceModel
import Foundation
import LoadReport

/// Turns interval samples into the milestones of a failure's story: the database saturates,
/// timeouts rise, a reconnect storm starts, the fleet collapses, rebounds, recovers.
///
/// Each kind has hysteresis (it fires on entering a state and re-arms only after leaving it
/// clearly), so a noisy signal gives one milestone, not one per interval. Nothing is reported
/// before the fleet is first established (≥ 95% online), so a cold start is not a "storm".
struct MilestoneTracker {
    struct Sample {
        var t: Nanoseconds
        var interval: Nanoseconds
        var online: Int
        var eligible: Int
        var utilization: Double
        var wait: Nanoseconds
        var timeouts: Int
        var handshakeTimeouts: Int
        var ackTimeouts: Int
        var attempts: Int
        var connects: Int
    }

    enum FleetState { case forming, healthy, collapsed, rebounding }

    /// How long the online fraction must hold ≥ 95% to count as recovered.
    static let hold: Nanoseconds = 10 * Time.minute

    private(set) var fleet: FleetState = .forming
    private var dbSaturated = false
    private var timeoutsHigh = false
    private var storm = false
    private var holdingSince: Nanoseconds?
    /// Recent utilisation samples: saturation is judged over `saturationWindow`, so one busy
    /// minute of a noisy database is not called saturated.
    private var recentUtilization: [Double] = []
    static let saturationWindow: Nanoseconds = 5 * Time.minute

    mutating func observe(_ s: Sample) -> [Report.Milestone] {
        var out: [Report.Milestone] = []
        func add(_ kind: Report.Milestone.Kind, _ detail: String, at t: Nanoseconds = s.t) {
            out.append(Report.Milestone(tS: Time.seconds(t), kind: kind, detail: detail))
        }
        let fraction = s.eligible == 0 ? 1 : Double(s.online) / Double(s.eligible)
        let minutes = Double(s.interval) / Double(Time.minute)
        var per: String { minutes == 1 ? "minute" : formatDuration(s.interval) }

        let window = max(1, Int(MilestoneTracker.saturationWindow / max(1, s.interval)))
        recentUtilization.append(s.utilization)
        if recentUtilization.count > window { recentUtilization.removeFirst() }
        let busy = recentUtilization.reduce(0, +) / Double(recentUtilization.count)
        if !dbSaturated, recentUtilization.count == window, busy >= 0.95 {
            dbSaturated = true
            add(.dbSaturated, String(format: "database %.0f%% busy over the last %@; a new query waits %.1f s",
                                     busy * 100, formatDuration(Nanoseconds(window) * s.interval), Time.seconds(s.wait)))
        } else if dbSaturated, busy < 0.8 {
            dbSaturated = false
        }

        guard fleet != .forming || fraction >= 0.95 else { return out }
        if fleet == .forming { fleet = .healthy }

        let timeoutShare = s.eligible == 0 ? 0 : Double(s.timeouts) / Double(s.eligible)
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
                    add(.recovered, percent + ", holding for \(formatDuration(MilestoneTracker.hold))", at: since)
                }
            } else {
                holdingSince = nil
            }
        }
        return out
    }
}
