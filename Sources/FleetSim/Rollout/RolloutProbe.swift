import DeviceModel
import Foundation
import LoadReport

/// One simulation of a rollout check: the scenario at one share and seed, either a quiet run
/// (stability) or a run with the standard perturbation (recovery), stopped as soon as its
/// verdict is known.
public struct RolloutProbe: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case stability, recovery }

    public var kind: Kind
    public var share: Double
    public var seed: UInt64
    /// Keep watching a late recovery to measure it (sweeps).
    public var observeLateRecovery = false

    public init(kind: Kind, share: Double, seed: UInt64, observeLateRecovery: Bool = false) {
        self.kind = kind
        self.share = share
        self.seed = seed
        self.observeLateRecovery = observeLateRecovery
    }

    /// The scenario this probe simulates.
    public func scenario(from base: Scenario) -> Scenario {
        let rollout = base.rollout!
        let health = rollout.health
        var s = base.atRolloutShare(share)
        s.seed = seed
        s.thresholds = []
        switch kind {
        case .stability:
            s.duration = health.window ?? base.duration
        case .recovery:
            let down = health.perturbationDown ?? base.backend.gateways.restart
            s.duration = health.perturbationAt + max(down, 0) + health.recoverWithin + health.hold + s.interval
            if observeLateRecovery { s.duration += 2 * health.recoverWithin + Time.hour }
            s.timeline.append(Scenario.TimelineEvent(at: health.perturbationAt,
                                                     action: .restartGateways(gateway: nil, down: down),
                                                     note: "the standard perturbation: every gateway restarts"))
        }
        s.interval = min(s.interval, s.duration)
        s.timeline = s.timeline.filter { $0.at < s.duration }
        // Stable order: events at the same time keep the order written, the perturbation last.
        s.timeline = s.timeline.indices.sorted { (s.timeline[$0].at, $0) < (s.timeline[$1].at, $1) }.map { s.timeline[$0] }
        return s
    }

    /// Runs the probe on the calling thread.
    public func run(_ base: Scenario) -> RolloutReport.Probe {
        let health = base.rollout!.health
        let s = scenario(from: base)
        let perturbation = kind == .recovery ? health.perturbationAt : nil
        let started = DispatchTime.now().uptimeNanoseconds
        let (report, judge) = RolloutProbe.simulate(s, health: health, perturbation: perturbation,
                                                    observeLateRecovery: observeLateRecovery)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

        var reason: String?
        if case .unhealthy(let why) = judge.verdict { reason = why }
        let healthy = judge.verdict == .healthy
        return RolloutReport.Probe(
            share: share, candidateDevices: s.fleet.first { $0.name == base.rollout!.candidate }?.count ?? 0,
            seed: seed, healthy: healthy, reason: reason,
            recoveryS: judge.recoveryTime.map(Time.seconds), onlineMin: judge.onlineMin,
            dbUtilizationMax: report.summary.dbUtilizationMax, dbUtilizationMean: report.summary.dbUtilizationMean,
            saturated: RolloutProbe.firstSaturation(report, scenario: s, after: perturbation.map(Time.seconds) ?? 0),
            simulatedS: report.summary.durationS, wallS: wall)
    }

    /// Simulates `s`, judged interval by interval (and stopped as soon as the verdict is known):
    /// the one way a probe's scenario is judged, for the search, the sweeps and the model's side
    /// of a live verification.
    static func simulate(_ s: Scenario, health: Rollout.Health, perturbation: Nanoseconds?,
                         observeLateRecovery: Bool) -> (report: Report, judge: HealthJudge) {
        var judge = HealthJudge(line: health.onlineFraction, end: s.duration, perturbation: perturbation,
                                recoverWithin: health.recoverWithin, hold: health.hold,
                                observeLateRecovery: observeLateRecovery)
        var simulation = Simulation(scenario: s)
        var samples: Int64 = 0
        let interval = s.interval, duration = s.duration
        let report = simulation.run(progress: { _, online in
            samples += 1
            judge.observe(t: min(duration, samples * interval), online: online)
        }, shouldStop: { judge.canStop })
        return (report, judge)
    }

    /// The first resource to reach its limit at or after `after` seconds: the database (busy ≥ 95%
    /// over 5 minutes: the `db_saturated` milestone, or the series when the run stopped first),
    /// gateway memory (a crash), or admission control (refusals).
    static func firstSaturation(_ report: Report, scenario: Scenario, after: Double) -> RolloutReport.Saturation? {
        var found: [RolloutReport.Saturation] = []
        let series = report.series
        if let m = report.milestones.first(where: { $0.kind == .dbSaturated && $0.tS >= after }) {
            found.append(.init(resource: "database", tS: m.tS, detail: m.detail))
        } else {
            // Three intervals in a row at ≥ 95%: saturated, even if the run stopped before the
            // milestone's five-minute window filled.
            var run = 0
            for (i, u) in series.dbUtilization.enumerated() where series.tS[i] >= after {
                run = u >= 0.95 ? run + 1 : 0
                if run == 3 {
                    found.append(.init(resource: "database", tS: series.tS[i],
                                       detail: String(format: "database %.0f%% busy for 3 intervals", u * 100)))
                    break
                }
            }
        }
        if let m = report.milestones.first(where: { $0.kind == .backendCrash && $0.tS >= after }) {
            found.append(.init(resource: "gateway memory", tS: m.tS, detail: m.detail))
        }
        if scenario.backend.admission != nil {
            let eligible = series.eligible.max() ?? 0
            for (i, r) in series.rejects.enumerated() where series.tS[i] >= after && r > max(10, eligible / 100) {
                found.append(.init(resource: "admission", tS: series.tS[i],
                                   detail: "\(r) connects refused by admission control in one interval"))
                break
            }
        }
        // Earliest first; on a tie, the order above (the database before what it causes).
        return found.enumerated().min { ($0.element.tS, $0.offset) < ($1.element.tS, $1.offset) }?.element
    }
}
