import ArgumentParser
import FleetSim
import LoadReport

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a scenario file without running it.",
        discussion: "Prints a one-line summary when the scenario is valid; otherwise the first error as file:line:column: field: problem, and exits 2.")

    @Argument(help: "The scenario file (YAML, format version 1; see scenarios/README.md).")
    var scenario: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a scenario field before validation, e.g. fleet.new-firmware.count=1000 (repeatable).", valueName: "path=value"))
    var overrides: [String] = []

    func run() throws {
        let s = try loadScenario(scenario, overrides: overrides)
        print("\(scenario): ok — \(s.name): \(s.totalDevices) devices in \(s.fleet.count) groups, "
              + "\(s.timeline.count) timeline events, \(s.thresholds.count) thresholds, duration \(ReportFormat.duration(s.duration))")
    }
}

func loadScenario(_ path: String, overrides: [String]) throws -> Scenario {
    let scenario: Scenario
    do {
        scenario = try ScenarioLoader.load(path: path, overrides: overrides)
    } catch let error as ScenarioError {
        throw CLIFailure.input(error.description)
    }
    try checkThresholds(scenario)
    return scenario
}
