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

    @OptionGroup var ci: CIOutputs

    func run() throws {
        let s = try options.load(scenario)
        let folder = try options.folder(for: s.name)
        let scale = options.scale

        Interrupt.install()
        var simulation = Simulation(scenario: s)
        let progress = ProgressLine(enabled: !ci.quiet, label: s.name)
        if !ci.quiet {
            progress.note("simulating \(s.name): \(s.totalDevices) devices, \(describe(s.duration)) of scenario time"
                          + (scale != 1 ? " (scaled ×\(scale))" : ""))
        }
        var report = simulation.run(progress: { fraction, online in progress.update(fraction, online) },
                                    shouldStop: { Interrupt.requested })
        progress.finish()
        try ci.publish(&report, scenario: scenario, folder: folder)
        if report.incomplete != nil { throw CLIFailure(message: "fleetsim: run interrupted; partial report written to \(folder)", code: 3) }
        try exitWithVerdict(report, what: scenario)
    }

}

/// What a gating run writes for CI besides its report folder, and how much it prints: shared by
/// every command that ends in a verdict.
struct CIOutputs: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Also write JUnit XML here: one test case per check of the gate.", valueName: "file"))
    var junit: String?

    @Option(name: .customLong("summary-md"), help: ArgumentHelp("Append a Markdown summary with the verdict here (e.g. $GITHUB_STEP_SUMMARY).", valueName: "file"))
    var summaryMd: String?

    @Flag(name: .shortAndLong, help: "Print only the output folder and errors.")
    var quiet = false

    /// Evaluates the thresholds, writes the report folder and the CI files, and prints the
    /// report (or, with `-q`, the folder).
    func publish(_ report: inout Report, scenario: String, folder: String) throws {
        do {
            try report.evaluateThresholds()
        } catch let error as ThresholdError {
            throw CLIFailure.input("\(scenario): \(error.message)")
        }
        try write(report, to: folder)
        if let junit { try writeFile(junit, Data(JUnitRenderer.render(report).utf8)) }
        if let summaryMd { try appendFile(summaryMd, Data(ciSummary(report).utf8)) }
        if quiet {
            print(folder)
        } else {
            print(TextRenderer.terminal(report))
            let series = FileManager.default.fileExists(atPath: folder + "/series.jsonl") ? " and series.jsonl" : ""
            print("Wrote \(folder)/report.json, report.md, report.html" + series)
        }
    }
}

func write(_ report: Report, to folder: String) throws {
    do {
        try report.jsonData().write(to: URL(fileURLWithPath: folder).appendingPathComponent("report.json"))
        try Data(TextRenderer.markdown(report).utf8).write(to: URL(fileURLWithPath: folder).appendingPathComponent("report.md"))
        try Data(HTMLRenderer.render(report).utf8).write(to: URL(fileURLWithPath: folder).appendingPathComponent("report.html"))
    } catch {
        throw CLIFailure(message: "fleetsim: cannot write the report to \(folder): \(error.localizedDescription)", code: 3)
    }
}

/// Ctrl-C asks the run to stop at the next interval, so the report of what ran is still written.
enum Interrupt {
    static var requested: Bool { Signals.interruptRequested }

    static func install() { Signals.installDefault() }
}

/// Progress on standard error: a self-rewriting line on a terminal, a line every 10% otherwise.
final class ProgressLine {
    private let enabled: Bool
    private let tty: Bool
    private let label: String
    private var lastDecile = -1
    private var lastDraw: UInt64 = 0
    private let started = DispatchTime.now().uptimeNanoseconds

    init(enabled: Bool, label: String) {
        self.enabled = enabled
        self.tty = isatty(STDERR_FILENO) != 0
        self.label = label
    }

    func note(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    func update(_ fraction: Double, _ online: Double) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let elapsed = Double(now - started) / 1e9
        let text = String(format: "%3.0f%%  online %5.1f%%  %.1f s", fraction * 100, online * 100, elapsed)
        if tty {
            guard now - lastDraw > 100_000_000 || fraction >= 1 else { return }
            lastDraw = now
            FileHandle.standardError.write(Data("\r\(label): \(text)\u{1B}[K".utf8))
        } else {
            let decile = Int(fraction * 10)
            guard decile != lastDecile, elapsed > 2 else { return }
            lastDecile = decile
            FileHandle.standardError.write(Data("\(label): \(text)\n".utf8))
        }
    }

    func finish() {
        if enabled && tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
