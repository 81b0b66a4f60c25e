import ArgumentParser
import DeviceModel
import FleetSim
import Foundation
import LoadReport
import Logging

/// `fleetsim rollout-check`: the largest safe share of the fleet on a candidate firmware, before
/// the rollout rather than after it.
struct RolloutCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout-check",
        abstract: "Find the share of the fleet a candidate firmware can take before the backend tips over.",
        discussion: """
        The scenario's rollout: section names the candidate group, the baseline groups its devices \
        come from, the planned share and what healthy means (scenarios/README.md). For each seed, \
        bisects the share for the stability boundary (a quiet run stays healthy) and the recovery \
        boundary (the fleet also comes back after every gateway restarts), in parallel on all \
        cores. Prints both with their spread across seeds, the metastable band between them, the \
        first resource to saturate and the margin to the plan; writes rollout.json, rollout.md and \
        rollout.html (to fleetsim-out/<scenario>-rollout-<timestamp>/ unless --out). Exit 0 when \
        planned × margin is at most the safe share (the worst seed's recovery boundary), 1 when \
        not, 2 on invalid input. \
        --sweep share=0..100%:5% and --sweep FIELD=v1,v2,… (any --set path) print a table and \
        chart it in rollout.html instead (exit 0). \
        --verify-live then checks the model live: one live run (the scenario's time_scale, the \
        standard perturbation) one step below and one step above the recovery boundary's spread \
        across seeds (the step: the search's precision or 1% of the fleet, whichever is larger) and at the planned share, \
        against the embedded backend or --target; prints predicted against live, writes each \
        live run's report beside rollout.json and charts them in rollout.html. Exit 4 when the \
        model and the live backend disagree (a finding: every report is written), else 1 when \
        the plan is not safe.
        """)

    @Argument(help: "A scenario with a rollout: section.")
    var scenario: String

    @Option(name: .long, help: ArgumentHelp("The planned share of the fleet on the candidate, e.g. 25% (default: rollout.planned).", valueName: "share"))
    var planned: String?

    @Option(name: .long, help: ArgumentHelp("Safety factor: the plan must be at most the safe share divided by it, e.g. 2x (default: rollout.margin, else 2x).", valueName: "factor"))
    var margin: String?

    @Option(name: .long, help: ArgumentHelp("Seeds per boundary (default: rollout.search.seeds, else 3).", valueName: "N"))
    var seeds: Int?

    @OptionGroup var options: ScenarioOptions

    @Option(name: .long, help: ArgumentHelp("Sweep the share (share=0..100%:5% or share=1%,2%,5%) or any scenario field (backend.database.cores=2,4,8); at most one of each.", valueName: "spec"))
    var sweep: [String] = []

    @Option(name: .long, help: ArgumentHelp("Threads to simulate on (default: all cores).", valueName: "N"))
    var threads: Int?

    @Flag(name: .customLong("verify-live"), help: "After the search, check the model's verdicts with live runs on both sides of its recovery boundary (and at the planned share).")
    var verifyLive = false

    @Option(name: .long, help: ArgumentHelp("With --verify-live: the live runs' device endpoint (ws:// or wss://); default: the scenario's target, else the embedded backend.", valueName: "url"))
    var target: String?

    @Option(name: .customLong("time-scale"), help: ArgumentHelp("With --verify-live: scenario seconds per wall second of the live runs (default: the scenario's time_scale).", valueName: "K"))
    var timeScale: Double?

    @OptionGroup var ci: CIOutputs

    func validate() throws {
        if let seeds, !(1...64).contains(seeds) { throw ValidationError("--seeds: expected 1 to 64, got \(seeds)") }
        if let threads, threads < 1 { throw ValidationError("--threads: expected at least 1, got \(threads)") }
        if !verifyLive, target != nil { throw ValidationError("--target: only with --verify-live") }
        if !verifyLive, timeScale != nil { throw ValidationError("--time-scale: only with --verify-live") }
        if let target, !(target.hasPrefix("ws://") || target.hasPrefix("wss://")) {
            throw ValidationError("--target: expected a ws:// or wss:// URL, got \"\(target)\"")
        }
        if let timeScale, !(timeScale > 0 && timeScale.isFinite) { throw ValidationError("--time-scale: expected a positive number, got \(timeScale)") }
        if verifyLive, sweep.contains(where: { !$0.hasPrefix("share=") }) {
            throw ValidationError("--verify-live: a field sweep has no single boundary to verify; sweep the share only")
        }
    }

    func run() throws {
        var base = try rolloutScenario(options.overrides)
        let (shareSpec, fieldSweep) = try sweeps()
        let folder = try options.folder(for: "\(base.name)-rollout")
        base = base.scaled(by: options.scale)
        var check = RolloutCheck(scenario: base, seeds: seeds)
        if let threads { check.threads = threads }
        if !ci.quiet {
            FileHandle.standardError.write(Data(("rollout-check \(base.name): \(base.rolloutFleetSize) devices"
                + (options.scale != 1 ? " (scaled ×\(options.scale))" : "") + ", \(check.seeds.count) seeds, \(check.threads) threads\n").utf8))
        }

        var report: RolloutReport
        if verifyLive {
            report = try verify(check, base: base, shares: shareSpec, folder: folder)
        } else if shareSpec != nil || fieldSweep != nil {
            report = try runSweep(check, shares: shareSpec, field: fieldSweep)
        } else {
            report = check.run()
        }

        do {
            let url = URL(fileURLWithPath: folder)
            try report.jsonData().write(to: url.appendingPathComponent("rollout.json"))
            try Data(RolloutRenderer.markdown(report).utf8).write(to: url.appendingPathComponent("rollout.md"))
            try Data(RolloutRenderer.html(report).utf8).write(to: url.appendingPathComponent("rollout.html"))
        } catch {
            throw CLIFailure(message: "fleetsim: cannot write the report to \(folder): \(error.localizedDescription)", code: 3)
        }
        if let junit = ci.junit { try writeFile(junit, Data(RolloutRenderer.junit(report).utf8)) }
        if let summaryMd = ci.summaryMd { try appendFile(summaryMd, Data(RolloutRenderer.ciSummary(report).utf8)) }
        if ci.quiet {
            print(folder)
        } else {
            print(RolloutRenderer.terminal(report))
            print("Wrote \(folder)/rollout.json, rollout.md and rollout.html")
        }
        if let v = report.verification {
            if v.points.contains(where: { $0.incomplete != nil }) {
                throw CLIFailure(message: "fleetsim: rollout-check: \(RolloutRenderer.verificationVerdict(v))", code: 3)
            }
            if !v.agrees {
                throw CLIFailure(message: "fleetsim: rollout-check: \(RolloutRenderer.verificationVerdict(v))", code: 4)
            }
        }
        if report.safe == false {
            throw CLIFailure(message: "fleetsim: rollout-check: the plan is not safe: \(RolloutRenderer.verdict(report) ?? "")", code: 1)
        }
    }

    /// The search, the model's sweep around its recovery boundary (or the --sweep given), then
    /// the live runs on both sides of it.
    func verify(_ check: RolloutCheck, base: Scenario, shares: [Double]?, folder: String) throws -> RolloutReport {
        var report = check.run()
        let recovery = report.recovery ?? RolloutReport.Boundary(perSeed: [0], firstUnhealthy: [nil], probes: [[]])
        let boundary = recovery.median
        let live = self.target ?? base.live.target
        if let live, let first = LiveRunner.unsupportedActions(base, target: live).first {
            throw CLIFailure.input("\(scenario): timeline[\(first.index)]: \(first.action) cannot be applied to target \(live): give it a hook")
        }
        var o = LiveRunner.Options(folder: folder)
        o.target = live
        o.timeScale = timeScale ?? base.live.timeScale
        o.observe = base.live.observe
        o.executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let quiet = ci.quiet
        o.notice = { line in if !quiet { FileHandle.standardError.write(Data(("  " + line + "\n").utf8)) } }
        let verification = RolloutVerification(check: check, options: o, logger: Logger(label: "fleetsim.verify"))
        // The model's curve around the boundary, for the chart: ±3 steps, or the sweep asked for.
        let step = verification.step
        let around = shares ?? (-3...3).map { min(1, max(0, boundary + Double($0) * step)) }
        let started = DispatchTime.now().uptimeNanoseconds
        let rows = RolloutSweep.run(base, shares: Array(Set(around)).sorted(), seeds: check.seeds, threads: check.threads)
        report.sweep = RolloutReport.Sweep(field: nil, rows: rows)
        report.simulations += rows.count * check.seeds.count * 2
        if !quiet {
            FileHandle.standardError.write(Data(("model: recovery boundary \(RolloutRenderer.percent(boundary)) (\(RolloutRenderer.percent(recovery.min))–\(RolloutRenderer.percent(recovery.max)) across seeds); live runs at ×\(o.timeScale) against \(live ?? "the embedded backend")\n").utf8))
        }
        let stop = Signals.stopLatch()
        report.verification = verification.run(boundary: recovery, planned: report.planned, shouldStop: { stop.isReleased }) { line in
            if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        report.wallS += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return report
    }

    /// The scenario with the command line's answers to the rollout question applied.
    func rolloutScenario(_ overrides: [String]) throws -> Scenario {
        var s = try loadScenario(scenario, overrides: overrides)
        guard s.rollout != nil else {
            throw CLIFailure.input("\(scenario): no rollout: section; a rollout check needs one naming the candidate group, the baseline and the planned share (see scenarios/README.md)")
        }
        if let planned {
            guard let share = Units.fraction(planned) else {
                throw CLIFailure.input("--planned: expected a share like \"25%\" or 0.25, got \"\(planned)\"")
            }
            s.rollout!.planned = share
        }
        if let margin {
            var text = margin.lowercased()
            if text.hasSuffix("x") || text.hasSuffix("×") { text.removeLast() }
            guard let factor = Double(text), factor.isFinite, factor >= 1 else {
                throw CLIFailure.input("--margin: expected a factor like \"2x\" (at least 1), got \"\(margin)\"")
            }
            s.rollout!.margin = factor
        }
        return s
    }

    /// `--sweep` arguments: the shares, and a field with its values.
    func sweeps() throws -> (shares: [Double]?, field: (path: String, values: [String])?) {
        var shares: [Double]?
        var field: (path: String, values: [String])?
        for spec in sweep {
            guard let eq = spec.firstIndex(of: "=") else {
                throw CLIFailure.input("--sweep \(spec): expected share=FROM..TO:STEP, share=A,B,… or FIELD=A,B,…")
            }
            let name = String(spec[..<eq]).trimmingCharacters(in: .whitespaces)
            let rest = String(spec[spec.index(after: eq)...])
            if name == "share" {
                guard shares == nil else { throw CLIFailure.input("--sweep \(spec): the share is already swept") }
                guard let values = RolloutSweep.shares(rest), !values.isEmpty else {
                    throw CLIFailure.input("--sweep \(spec): expected shares like 0..100%:5% or 1%,2%,5%")
                }
                shares = values
            } else {
                guard field == nil else { throw CLIFailure.input("--sweep \(spec): one scenario field can be swept at a time") }
                let values = rest.components(separatedBy: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !values.isEmpty else { throw CLIFailure.input("--sweep \(spec): expected values like \(name)=2,4,8") }
                // Every value must load: errors name the --set it became.
                for v in values { _ = try rolloutScenario(options.overrides + ["\(name)=\(v)"]) }
                field = (name, values)
            }
        }
        return (shares, field)
    }

    func runSweep(_ check: RolloutCheck, shares: [Double]?, field: (path: String, values: [String])?) throws -> RolloutReport {
        let started = DispatchTime.now().uptimeNanoseconds
        var report = check.makeReport()
        var rows: [RolloutReport.Sweep.Row] = []
        var simulations = 0
        let values: [String?] = field.map { $0.values.map { Optional($0) } } ?? [nil]
        for value in values {
            var s = check.scenario
            if let field, let value { s = try rolloutScenario(options.overrides + ["\(field.path)=\(value)"]).scaled(by: options.scale) }
            if let shares {
                rows += RolloutSweep.run(s, shares: shares, seeds: check.seeds, value: value, threads: check.threads)
                simulations += shares.count * check.seeds.count * 2
            } else {
                var c = RolloutCheck(scenario: s, seeds: check.seeds.count)
                c.threads = check.threads
                let r = c.run()
                var row = RolloutReport.Sweep.Row(value: value, share: nil, seeds: check.seeds.count)
                row.stabilityBoundary = r.stability?.median
                row.recoveryBoundary = r.recovery?.median
                row.saturated = r.stabilityCause?.resource
                rows.append(row)
                simulations += r.simulations
            }
        }
        report.sweep = RolloutReport.Sweep(field: field?.path, rows: rows)
        report.simulations = simulations
        report.wallS = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return report
    }
}
