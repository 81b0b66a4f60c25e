import Foundation
@testable import FleetSim
import LoadReport

/// Runs shipped scenarios and test fixtures for whole-run tests.
enum ScenarioRuns {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func shipped(_ name: String) -> String {
        repository.appendingPathComponent("scenarios").appendingPathComponent(name).path
    }

    static func fixture(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
    }

    static func run(_ path: String, overrides: [String] = [], scale: Double = 1) throws -> Report {
        var simulation = Simulation(scenario: try ScenarioLoader.load(path: path, overrides: overrides).scaled(by: scale))
        return simulation.run()
    }
}

extension Report {
    func milestones(_ kind: Milestone.Kind) -> [Milestone] { milestones.filter { $0.kind == kind } }

    /// The report as JSON with the wall-clock figure removed: what must be identical between runs.
    func deterministicJSON() throws -> Data {
        var copy = self
        copy.summary.wallS = nil
        return try copy.jsonData()
    }
}
