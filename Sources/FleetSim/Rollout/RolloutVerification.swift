import DeviceModel
import Foundation
import LoadReport
import Logging

/// Predict, then verify live: the model's verdict one step below and one step above its recovery
/// boundary's spread across seeds (and at the planned share), each checked by a live run of the same probe scenario
/// (the standard perturbation included) against the embedded backend or a target.
///
/// The model's prediction and the live verdict use one judge (`HealthJudge`, as the search's
/// probes): the live run is judged interval by interval on its report's online fraction, and
/// stops as soon as nothing it could still show would change the verdict.
public struct RolloutVerification {
    public let check: RolloutCheck
    /// The live runs' settings; `folder` is the parent of one folder per point.
    public var options: LiveRunner.Options
    public let logger: Logger

    public init(check: RolloutCheck, options: LiveRunner.Options, logger: Logger = Logger(label: "fleetsim.verify")) {
        self.check = check
        self.options = options
        self.logger = logger
    }

    /// The step between the boundary and the points around it: the search's precision or 1% of
    /// the fleet, whichever is larger.
    public var step: Double { max(check.precision, 0.01) }

    /// The shares to run: one step below the lowest seed's recovery boundary and one above the
    /// highest's (`low`, `high`: inside that spread the model itself gives both verdicts, so a live
    /// run there tests nothing), snapped to whole devices, and `planned` when it is neither.
    public func points(low: Double, high: Double, planned: Double) -> [(role: String, share: Double)] {
        let size = Double(max(1, check.scenario.rolloutFleetSize))
        func snap(_ share: Double) -> Double { (min(1, max(0, share)) * size).rounded() / size }
        var out: [(role: String, share: Double)] = []
        let below = snap(low - step), above = snap(high + step)
        if below < low || low == 0 { out.append(("below", below)) }
        if above > high { out.append(("above", above)) }
        let p = snap(planned)
        if !out.contains(where: { abs($0.share - p) < 0.5 / size }) { out.append(("planned", p)) }
        return out.sorted { $0.share < $1.share }
    }

    /// The live probe scenario at `share`: the model's recovery probe (the standard perturbation),
    /// watched past its bound (twice `recover_within`) so that a late recovery is still timed.
    public func liveScenario(share: Double) -> Scenario {
        var s = RolloutProbe(kind: .recovery, share: share, seed: check.scenario.seed).scenario(from: check.scenario)
        let h = check.rollout.health
        s.duration += h.recoverWithin
        s.name = check.scenario.name + String(format: "-live-%.4g%%", share * 100)
        return s
    }

    /// Runs the model at every point (over the check's seeds), then one live run per point.
    /// `shouldStop` ends the live run in progress (its report is kept, marked incomplete) and
    /// skips the rest; `progress` receives a line per step for the operator.
    public func run(boundary: RolloutReport.Boundary, planned: Double, shouldStop: @escaping () -> Bool,
                    progress: (String) -> Void = { _ in }) -> RolloutVerificationReport {
        let started = Date()
        let shares = points(low: boundary.min, high: boundary.max, planned: planned)
        let predicted = predict(shares.map(\.share))
        var result: [RolloutVerificationReport.Point] = []
        let target = options.target ?? "the embedded backend"
        let timeScale = options.timeScale
        for (i, point) in shares.enumerated() {
            let row = predicted[i]
            let scenario = liveScenario(share: point.share)
            let folder = options.folder + "/" + String(format: "live-%.4g%%", point.share * 100)
            let candidates = scenario.fleet.first { $0.name == check.rollout.candidate }?.count ?? 0
            var p = RolloutVerificationReport.Point(
                role: point.role, share: point.share, candidateDevices: candidates,
                predictedStable: row.stable, predictedRecovered: row.recovered,
                predictedRecoveryS: row.recoveryS, liveStable: false, liveRecovered: false, liveRecoveryS: nil,
                liveReason: nil, report: folder, incomplete: nil)
            if shouldStop() {
                p.incomplete = "not run: interrupted"
                result.append(p)
                continue
            }
            progress(String(format: "live %d/%d: %.2f%% on the candidate (%d devices, %@), %@ of scenario time at ×%g …",
                            i + 1, shares.count, point.share * 100, candidates, point.role,
                            ReportFormat.duration(scenario.duration), timeScale))
            let live = runLive(scenario, folder: folder, shouldStop: shouldStop)
            p.liveStable = live.stable
            p.liveRecovered = live.recovered
            p.liveRecoveryS = live.recoveryS
            p.liveReason = live.reason
            p.incomplete = live.incomplete
            progress(String(format: "  predicted %@ / %@, live %@ / %@%@: %@", p.predictedStable ? "stable" : "unstable",
                            p.predictedRecovered ? "recovered" : "not recovered", p.liveStable ? "stable" : "unstable",
                            p.liveRecovered ? "recovered" : "not recovered",
                            p.liveRecoveryS.map { " in " + ReportFormat.duration(Time.from(seconds: $0)) } ?? "",
                            p.incomplete != nil ? "incomplete" : p.agrees ? "agree" : "DISAGREE"))
            result.append(p)
        }
        return RolloutVerificationReport(boundary: boundary.median, low: boundary.min, high: boundary.max, step: step,
                                         target: target, timeScale: timeScale, points: result,
                                         wallS: Date().timeIntervalSince(started))
    }

    /// The model's verdict on each share's live scenario, over the check's seeds: a majority
    /// stable / recovered, and the median recovery time when most came back at all.
    func predict(_ shares: [Double]) -> [(stable: Bool, recovered: Bool, recoveryS: Double?)] {
        let h = check.rollout.health
        let runs = shares.flatMap { share in check.seeds.map { (share: share, seed: $0) } }
        let scenarios = Dictionary(shares.map { ($0, liveScenario(share: $0)) }, uniquingKeysWith: { a, _ in a })
        let judged = RolloutCheck.parallelMap(runs, threads: check.threads) { run -> HealthJudge in
            var s = scenarios[run.share]!
            s.seed = run.seed
            return RolloutProbe.simulate(s, health: h, perturbation: h.perturbationAt, observeLateRecovery: true).judge
        }
        let n = check.seeds.count
        return shares.indices.map { i in
            let judges = judged[(i * n)..<((i + 1) * n)]
            let times = judges.compactMap(\.recoveryTime).map(Time.seconds).sorted()
            return (stable: judges.filter(\.stableBeforePerturbation).count * 2 > n,
                    recovered: judges.filter { $0.verdict == .healthy }.count * 2 > n,
                    recoveryS: times.count * 2 > n ? times[(times.count - 1) / 2] : nil)
        }
    }

    struct LiveVerdict {
        var stable = false, recovered = false
        var recoveryS: Double?
        var reason: String?
        var incomplete: String?
    }

    /// One live run, judged interval by interval with the probes' own judge; its reports are
    /// written to `folder`.
    func runLive(_ scenario: Scenario, folder: String, shouldStop: @escaping () -> Bool) -> LiveVerdict {
        let h = check.rollout.health
        var judge = HealthJudge(line: h.onlineFraction, end: scenario.duration, perturbation: h.perturbationAt,
                                recoverWithin: h.recoverWithin, hold: h.hold, observeLateRecovery: true)
        var verdict = LiveVerdict()
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var o = options
            o.folder = folder
            let interval = scenario.interval
            var report = try LiveRunner(scenario: scenario, options: o, logger: logger).run(shouldStop: shouldStop, interval: { r in
                let s = r.series
                guard let i = s.tS.indices.last else { return false }
                let online = s.eligible[i] == 0 ? 1 : Double(s.online[i]) / Double(s.eligible[i])
                judge.observe(t: Nanoseconds(s.tS[i] / Time.seconds(interval) + 0.5) * interval, online: online)
                return judge.canStop
            })
            try? report.evaluateThresholds()
            try report.jsonData().write(to: URL(fileURLWithPath: folder + "/report.json"))
            try Data(TextRenderer.markdown(report).utf8).write(to: URL(fileURLWithPath: folder + "/report.md"))
            try Data(HTMLRenderer.render(report).utf8).write(to: URL(fileURLWithPath: folder + "/report.html"))
            verdict.incomplete = report.incomplete
            for w in report.database?.warnings ?? [] { logger.warning("\(w)") }
        } catch {
            verdict.incomplete = "\(error)"
        }
        verdict.stable = judge.stableBeforePerturbation
        verdict.recovered = judge.verdict == .healthy
        verdict.recoveryS = judge.recoveryTime.map(Time.seconds)
        if case .unhealthy(let why) = judge.verdict { verdict.reason = why }
        if verdict.incomplete == nil, case .undecided = judge.verdict { verdict.incomplete = "the run ended before a verdict" }
        return verdict
    }
}
