import DeviceModel
import LoadReport

/// Judges one rollout probe interval by interval, so that a run can stop as soon as its verdict is
/// known: a fleet that collapsed is not healthy however long it runs on.
///
/// - Stability: the online fraction never falls below the health line once the fleet is first
///   established, until `end`.
/// - Recovery: the same until the perturbation; then the fleet must be back at the line within
///   `recoverWithin` of the perturbation and hold there for `hold`. A relapse during the hold
///   starts the wait again.
struct HealthJudge {
    enum Verdict: Equatable { case undecided, healthy, unhealthy(String) }

    let line: Double
    let end: Nanoseconds
    /// nil: a stability probe.
    let perturbation: Nanoseconds?
    let recoverWithin: Nanoseconds
    let hold: Nanoseconds
    /// Keep observing a recovery that missed its bound until it comes back or `end` (sweeps want
    /// the recovery time, not only the verdict).
    let observeLateRecovery: Bool

    private(set) var verdict: Verdict = .undecided
    private var established = false
    private var failedBeforePerturbation = false
    private var backSince: Nanoseconds?
    /// From the perturbation to the start of the hold that succeeded (also when later than the bound).
    private(set) var recoveryTime: Nanoseconds?
    /// The lowest online fraction before the perturbation (or over the whole stability window).
    private(set) var onlineMin: Double = 1

    init(line: Double, end: Nanoseconds, perturbation: Nanoseconds? = nil, recoverWithin: Nanoseconds = 0,
         hold: Nanoseconds = 0, observeLateRecovery: Bool = false) {
        self.line = line
        self.end = end
        self.perturbation = perturbation
        self.recoverWithin = recoverWithin
        self.hold = hold
        self.observeLateRecovery = observeLateRecovery
    }

    /// The fleet was established and held the line until the perturbation (or the end).
    var stableBeforePerturbation: Bool { established && !failedBeforePerturbation }

    /// The run can stop: nothing it could still show would change what is reported.
    var canStop: Bool {
        if case .undecided = verdict { return false }
        if observeLateRecovery, perturbation != nil, !failedBeforePerturbation, recoveryTime == nil { return false }
        return true
    }

    /// The online fraction sampled at time `t` (the end of an interval).
    mutating func observe(t: Nanoseconds, online: Double) {
        guard !canStop else { return }
        defer {
            if t >= end, case .undecided = verdict {
                decide(perturbation == nil ? .healthy
                       : .unhealthy(String(format: "not back to %.0f%% and holding by the end of the run", line * 100)))
            }
        }
        // The sample taken at the perturbation's own time already sees it (timeline events run first).
        if let p = perturbation, t >= p, established {
            afterPerturbation(t: t, online: online, p: p)
            return
        }
        if !established {
            guard online >= line else {
                // A cold start gets as long to come online as a recovery does.
                if t >= min(recoverWithin > 0 ? recoverWithin : end, perturbation ?? end) {
                    failedBeforePerturbation = true
                    decide(.unhealthy(String(format: "not at %.0f%% online by %@ (online %.1f%%)", line * 100, ReportFormat.duration(t), online * 100)))
                }
                return
            }
            established = true
        }
        onlineMin = min(onlineMin, online)
        if online < line {
            failedBeforePerturbation = true
            decide(.unhealthy(String(format: "online %.1f%% at %@", online * 100, ReportFormat.duration(t))))
        }
    }

    private mutating func afterPerturbation(t: Nanoseconds, online: Double, p: Nanoseconds) {
        if online >= line {
            let since = backSince ?? t
            backSince = since
            if t - since >= hold, recoveryTime == nil {
                recoveryTime = since - p
                decide(since - p <= recoverWithin ? .healthy
                       : .unhealthy("back at \(ReportFormat.duration(since - p)) after the perturbation, later than \(ReportFormat.duration(recoverWithin))"))
            }
        } else {
            backSince = nil
            if t - p > recoverWithin {
                decide(.unhealthy(String(format: "not back to %.0f%% within %@ of the perturbation (online %.1f%% at +%@)",
                                         line * 100, ReportFormat.duration(recoverWithin), online * 100, ReportFormat.duration(t - p))))
            }
        }
    }

    private mutating func decide(_ v: Verdict) {
        if case .undecided = verdict { verdict = v }
    }
}
