import ArgumentParser
import FleetSim
import Foundation
import LoadReport

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a scenario in virtual time against the backend model.",
        discussion: """
        Prints the run as a timeline of milestones and a summary, and writes report.json \
        (fleetsim.report/1), report.md and report.html to the output folder. Thresholds are \
        evaluated at the end: exit 1 when one fails. Deterministic: the same scenario \
        and seed give the same report (except wall time). Ctrl-C stops at the next interval and \
        still writes the report of what was simulated (exit 3).
        """)

    @Argument(help: "The scenario file (YAML, format version 1; see scenarios/README.md).")
    var scenario: String

    @OptionGroup var options: ScenarioOptions

    @OptionGroup var seed: SeedOption

    @OptionGroup var ci: CIOutputs

    func run() throws {
        let s = try options.load(scenario, seed: seed.seed)
        let folder = try options.folder(for: s.name)
        let scale = options.scale

        let stop = Signals.stopLatch()
        var simulation = Simulation(scenario: s)
        let progress = ProgressLine(enabled: !ci.quiet, label: s.name)
        if !ci.quiet {
            progress.note("simulating \(s.name): \(s.totalDevices) devices, \(ReportFormat.duration(s.duration)) of scenario time"
                          + (scale != 1 ? " (scaled ×\(scale))" : ""))
        }
        var report = simulation.run(progress: { fraction, online in progress.update(fraction, online) },
                                    shouldStop: { stop.isReleased })
        progress.finish()
        try ci.publish(&report, scenario: scenario, folder: folder)
        if report.incomplete != nil { throw CLIFailure(message: "fleetsim: run interrupted; partial report written to \(folder)", code: 3) }
        try exitWithVerdict(report, what: scenario)
    }

}
