import ArgumentParser
import Foundation
import LoadReport

/// `fleetsim compare BASE.json NEW.json`: a baseline gate.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare a report with a baseline report; exit 1 on a regression beyond the bound.",
        discussion: """
        Prints the metrics that changed (base, new, relative change) and marks those that got \
        worse by more than --max-regression: online fractions should not fall; latency, timeouts, \
        attempts, crashes, recovery time, database and memory use should not rise. Connects and \
        device counts are shown but never a regression. Exit codes: 0 no regression beyond the \
        bound, 1 a regression, 2 a report could not be read.
        """)

    @Argument(help: "The baseline report.json.")
    var base: String

    @Argument(help: "The report.json to check against it.")
    var new: String

    @Option(name: .customLong("max-regression"),
            help: ArgumentHelp("How much worse a metric may get, e.g. 10% or 0.1.", valueName: "bound"))
    var maxRegression: String = "10%"

    func run() throws {
        let bound: Double
        do {
            bound = try ReportComparison.parseBound(maxRegression)
        } catch let error as ReportError {
            throw CLIFailure.input("fleetsim: \(error.message)")
        }
        let comparison = ReportComparison(base: try readReport(base), new: try readReport(new), maxRegression: bound)
        print(comparison.table(), terminator: "")
        let regressions = comparison.regressions
        if !regressions.isEmpty {
            throw CLIFailure(message: "fleetsim: \(regressions.count) metric\(regressions.count == 1 ? "" : "s") regressed by more than \(maxRegression): "
                             + regressions.map(\.name).joined(separator: ", "), code: 1)
        }
    }
}
