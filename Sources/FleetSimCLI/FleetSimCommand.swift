import ArgumentParser

/// The `fleetsim` command: argument parsing and wiring only (DESIGN.md).
@main
struct FleetSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetsim",
        abstract: "Simulate fleets of connected devices against a cloud backend, and report how it holds up.",
        subcommands: [BackendCommand.self])
}
