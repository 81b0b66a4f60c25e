import ArgumentParser
import FleetSim
import Foundation
import LoadReport

/// `fleetsim report`: re-render a report, or merge the reports of a run's shards.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Re-render a report.json, or merge shard reports (fleetsim report merge).",
        subcommands: [Render.self, Merge.self],
        defaultSubcommand: Render.self)

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "render",
            abstract: "Print a report.json and write it as HTML, Markdown or JUnit XML.",
            discussion: """
            Prints the terminal summary unless -q. Exits like the run that made the report: 0 every \
            threshold held, 1 a threshold failed, 3 the run was incomplete (2: unreadable report).
            """)

        @Argument(help: "A report.json (fleetsim.report/1).")
        var report: String

        @OptionGroup var outputs: ReportOutputs

        @Flag(name: .shortAndLong, help: "Print nothing but errors.")
        var quiet = false

        func run() throws {
            let r = try readReport(report)
            try outputs.write(r)
            if !quiet { print(TextRenderer.terminal(r)) }
            try exitWithVerdict(r, what: report)
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge",
            abstract: "Merge the reports of the shards of one run into the report of the whole run.",
            discussion: """
            Counts add up, latency histograms merge losslessly (merged percentiles are those of all \
            samples), device series add per interval, backend series take the maximum (every shard \
            sees the same backend), and thresholds are evaluated again on the merged data. Reports \
            of different scenarios, seeds or intervals are refused (exit 2). Exits like a run: 0, 1 \
            when a threshold fails on the merged data, 3 when a shard was incomplete.
            """)

        @Argument(help: "Shard reports (report.json files).")
        var reports: [String]

        @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the merged report.json.", valueName: "file"))
        var output: String

        @OptionGroup var outputs: ReportOutputs

        @Flag(name: .shortAndLong, help: "Print nothing but errors.")
        var quiet = false

        func validate() throws {
            guard !reports.isEmpty else { throw ValidationError("give the shard reports to merge") }
        }

        func run() throws {
            let shards = try reports.map(readReport)
            let merged: Report
            do {
                merged = try ReportMerge.merge(shards)
            } catch let error as ReportError {
                throw CLIFailure.input("fleetsim report merge: \(error.message)")
            }
            try writeFile(output, merged.jsonData())
            try outputs.write(merged)
            if !quiet {
                print(TextRenderer.terminal(merged))
                print("Merged \(shards.count) reports into \(output)")
            }
            try exitWithVerdict(merged, what: output)
        }
    }
}

/// `--html`, `--md`, `--junit`: renderings of a report to write.
struct ReportOutputs: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Write the self-contained HTML report here.", valueName: "file"))
    var html: String?

    @Option(name: .long, help: ArgumentHelp("Write the Markdown report here.", valueName: "file"))
    var md: String?

    @Option(name: .long, help: ArgumentHelp("Write JUnit XML here (one test case per threshold).", valueName: "file"))
    var junit: String?

    func write(_ report: Report) throws {
        if let html { try writeFile(html, Data(HTMLRenderer.render(report).utf8)) }
        if let md { try writeFile(md, Data(TextRenderer.markdown(report).utf8)) }
        if let junit { try writeFile(junit, Data(JUnitRenderer.render(report).utf8)) }
    }
}

/// A report file, or a live run's `series.jsonl` (rebuilt into the report of the intervals it holds).
func readReport(_ path: String) throws -> Report {
    do {
        if path.hasSuffix(".jsonl") { return try SeriesLog.rebuild(path: path) }
        return try Report.read(path: path)
    } catch let error as ReportError {
        throw CLIFailure.input(error.message)
    }
}

/// Writes a file, creating its folder; a failure to write is exit 3 (the run's result is lost).
func writeFile(_ path: String, _ data: Data) throws {
    let url = URL(fileURLWithPath: path)
    do {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    } catch {
        throw CLIFailure(message: "fleetsim: cannot write \(path): \(error.localizedDescription)", code: 3)
    }
}

/// Appends to a file (a CI job summary such as $GITHUB_STEP_SUMMARY is appended to), creating it.
func appendFile(_ path: String, _ data: Data) throws {
    do {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let handle = try? FileHandle(forWritingTo: url) {
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: data)
        } else {
            try data.write(to: url)
        }
    } catch {
        throw CLIFailure(message: "fleetsim: cannot write \(path): \(error.localizedDescription)", code: 3)
    }
}

/// DESIGN.md's exit codes for a finished report: 3 incomplete, 1 a threshold failed, else 0.
func exitWithVerdict(_ report: Report, what: String) throws {
    if report.incomplete != nil { throw CLIFailure(message: "fleetsim: \(what): the run was incomplete", code: 3) }
    let failed = report.thresholds.filter { $0.ok == false }
    if !failed.isEmpty {
        let list = failed.map { "\($0.metric): \($0.expression)" }.joined(separator: ", ")
        throw CLIFailure(message: "fleetsim: \(failed.count == 1 ? "a threshold" : "\(failed.count) thresholds") failed: \(list)", code: 1)
    }
}

/// The lines a CI job summary starts with: the verdict, then the Markdown report.
func ciSummary(_ report: Report) -> String {
    let failed = report.thresholds.filter { $0.ok == false }.count
    let verdict: String
    if report.incomplete != nil { verdict = "⚠️ **FleetSim: \(report.scenario) did not complete**" }
    else if failed > 0 { verdict = "❌ **FleetSim: \(failed) of \(report.thresholds.count) thresholds failed** (\(report.scenario))" }
    else if report.thresholds.isEmpty { verdict = "**FleetSim: \(report.scenario)** (no thresholds)" }
    else { verdict = "✅ **FleetSim: all \(report.thresholds.count) thresholds held** (\(report.scenario))" }
    return verdict + "\n\n" + TextRenderer.markdown(report) + "\n"
}

/// Scenario thresholds are checked when the scenario loads, so `validate` catches a bad one and
/// `simulate` refuses it before running: `file:line:col: thresholds.handshake_ms: problem`.
func checkThresholds(_ scenario: Scenario) throws {
    for t in scenario.thresholds {
        do {
            try Thresholds.check(metric: t.metric, expression: t.expression)
        } catch let error as ThresholdError {
            throw CLIFailure.input("\(t.location.map { "\($0): " } ?? "")thresholds.\(t.metric): \(error.message)")
        }
    }
}
