import ArgumentParser
import FleetSim
import Foundation

/// The flags every command that runs a scenario shares (`simulate`, `run`, `rollout-check`):
/// where the report goes and how the scenario is adjusted. With `CIOutputs` beside it, and
/// `SeedOption` for the commands that run one seed.
struct ScenarioOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Output folder (default: a new one in fleetsim-out/, named after the scenario and the UTC time).", valueName: "dir"))
    var out: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a scenario field, e.g. fleet.new-firmware.count=1000 or backend.database.cores=8 (repeatable).", valueName: "path=value"))
    var overrides: [String] = []

    @Option(name: .long, help: ArgumentHelp("Multiply every device group and the backend's capacity by K, keeping the scenario's shape.", valueName: "K"))
    var scale: Double = 1

    func validate() throws {
        guard scale > 0, scale.isFinite else {
            throw ValidationError("--scale: expected a positive number, got \(scale)")
        }
    }

    /// The scenario with `--set`, `seed` (when given) and `--scale` applied.
    func load(_ path: String, seed: UInt64?) throws -> Scenario {
        var s = try loadScenario(path, overrides: overrides)
        if let seed { s.seed = seed }
        return s.scaled(by: scale)
    }

    /// The output folder, created: `--out`, else `fleetsim-out/<name>-<timestamp>`.
    func folder(for name: String) throws -> String {
        let folder = out ?? {
            let f = DateFormatter()
            f.dateFormat = "yyyyMMdd-HHmmss"
            f.timeZone = TimeZone(identifier: "UTC")
            return "fleetsim-out/\(name)-\(f.string(from: Date()))"
        }()
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw CLIFailure.input("--out \(folder): cannot create the folder: \(error.localizedDescription)")
        }
        return folder
    }
}

/// `--seed`, for the commands that run the scenario once (`simulate`, `run`); `rollout-check`
/// searches over seeds of its own (`--seeds`) and does not take it.
struct SeedOption: ParsableArguments {
    @Option(name: .long, help: "Override the scenario's seed.")
    var seed: UInt64?
}
