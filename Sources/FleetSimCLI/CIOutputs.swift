import ArgumentParser
import Foundation
import LoadReport

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
