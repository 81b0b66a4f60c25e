import Foundation
import Testing
@testable import FleetSim
import LoadReport

/// The live rows' parameters of the incident files (`x-live:`, `x-live-hardened:`, which
/// scripts/incident-table.py --live passes to `fleetsim run` as --set): they still load, keep
/// every run within a few minutes of wall time, start cold and spread, and, simulated, tell the
/// incident's story (the fault's milestones, the fleet back at the end). The live runs themselves
/// are not run here: they take minutes (LiveFaultTests covers every fault live).
@Suite struct IncidentLiveRowsTests {
    @Test(arguments: IncidentScenarioTests.files)
    func everyIncidentHasLiveParametersThatFitTheMachineAndTheStory(file: String) throws {
        let live = try IncidentScenarioTests.overrides("x-live", of: file)
        #expect(!live.isEmpty, "\(file) has its live parameters")
        let hardened = try IncidentScenarioTests.hardened(file) + live + IncidentScenarioTests.overrides("x-live-hardened", of: file)
        for overrides in [live, hardened] {
            let s = try ScenarioLoader.load(path: IncidentScenarioTests.path(file), overrides: overrides)
            #expect(Double(s.duration) / 1e9 / s.live.timeScale <= 180, "\(file): at most 3 minutes of wall time")
            #expect(s.totalDevices <= 2_000)
            #expect(s.fleet.allSatisfy { !$0.warm && $0.ramp > 0 }, "\(file): a live fleet joins cold, spread")
            var simulation = Simulation(scenario: s)
            let r = simulation.run()
            // Each fault's start is a milestone, and its end when it ends within the run (the
            // Teams and Google faults outlast theirs).
            let ends = s.timeline.filter { e in e.action.faultDuration.map { e.at + $0 < s.duration } ?? false }
            #expect(r.milestones(.timeline).count == s.timeline.count + ends.count)
            #expect(r.summary.onlineFractionFinal > 0.95)
        }
    }
}
