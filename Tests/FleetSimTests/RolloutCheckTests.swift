import Foundation
import LoadReport
import Testing
@testable import FleetSim

/// The rollout check on the postmortem fleet (scenarios/rollout-3.8.0-b3.yaml), the `rollout:`
/// section's reader, and the share arithmetic.
@Suite(.tags(.slow)) struct RolloutCheckTests {
    static let shipped = ScenarioRuns.shipped("rollout-3.8.0-b3.yaml")

    static func scenario(_ overrides: [String] = []) throws -> Scenario {
        try ScenarioLoader.load(path: shipped, overrides: overrides)
    }

    // MARK: Whole checks

    @Test func postmortemFleetTipsBetween800And1000ScanningDevicesAndRecoversOnlyBelowThat() throws {
        let report = RolloutCheck(scenario: try Self.scenario()).run()
        let stability = try #require(report.stability), recovery = try #require(report.recovery)
        #expect(report.fleetSize == 20_000)
        for (seed, share) in zip(report.seeds, stability.perSeed) {
            #expect(share >= 0.04 && share < 0.05, "seed \(seed): stability boundary \(share)")
        }
        for (s, r) in zip(stability.perSeed, recovery.perSeed) { #expect(r <= s) }
        // 800 devices (4%) did not recover from the 13:40 restart: they sit in the metastable band.
        #expect(recovery.max < 0.04)
        #expect(report.stabilityCause?.resource == "database")
        #expect(report.safe == false)
        #expect(report.safeShare == recovery.min)
    }

    @Test func bisectionIsDeterministicPerSeedSet() throws {
        // A shorter quiet window keeps this cheap; determinism does not depend on it.
        let s = try Self.scenario(["rollout.health.window=30m", "rollout.search.seeds=2",
                                   "rollout.search.precision=1%"])
        let a = RolloutCheck(scenario: s).run(), b = RolloutCheck(scenario: s).run()
        func shares(_ r: RolloutReport) -> [[Double]] {
            (r.stability!.probes + r.recovery!.probes).map { $0.map(\.share) }
        }
        #expect(a.stability == nil ? false : a.stability!.perSeed == b.stability!.perSeed)
        #expect(a.recovery!.perSeed == b.recovery!.perSeed)
        #expect(shares(a) == shares(b))
        #expect(a.seeds == [2020, 2021])
    }

    @Test func candidateIdenticalToTheBaselineIsSafeAtTheWholeFleet() throws {
        let s = try Self.scenario(["fleet.candidate.profile=legacy", "fleet.candidate.firmware=3.8.0-b2",
                                   "rollout.search.seeds=1", "rollout.planned=100%", "rollout.margin=1x"])
        let report = RolloutCheck(scenario: s).run()
        #expect(report.stability?.perSeed == [1])
        #expect(report.recovery?.perSeed == [1])
        #expect(report.safe == true)
        #expect(report.simulations == 2)
    }

    // MARK: Shares

    @Test func aShareMovesDevicesFromTheBaselineToTheCandidate() throws {
        let s = try Self.scenario().atRolloutShare(0.05)
        #expect(s.fleet.first { $0.name == "candidate" }?.count == 1000)
        #expect(s.fleet.first { $0.name == "baseline" }?.count == 19_000)
        #expect(s.totalDevices == 20_000)
    }

    @Test func severalBaselineGroupsGiveInProportion() throws {
        var s = try Self.scenario()
        s.fleet.append(Scenario.Group(name: "other", count: 10_000, firmware: s.fleet[0].firmware, profile: "legacy"))
        s.rollout!.baseline = ["baseline", "other"]
        #expect(s.rolloutFleetSize == 30_000)
        // 27,000 baseline devices left, split 19,200 : 10,000 as written.
        let moved = s.atRolloutShare(0.1)
        #expect(moved.fleet.map(\.count) == [17_753, 3_000, 9_247])
    }

    @Test func shareSweepSpecifications() {
        #expect(RolloutSweep.shares("0..100%:25%") == [0, 0.25, 0.5, 0.75, 1])
        #expect(RolloutSweep.shares("2..6%:2") == [0.02, 0.04, 0.06])
        #expect(RolloutSweep.shares("1%,2%,5%") == [0.01, 0.02, 0.05])
        #expect(RolloutSweep.shares("0..100%:0") == nil)
        #expect(RolloutSweep.shares("a..b") == nil)
    }

    // MARK: The rollout: section

    @Test func rolloutSectionDefaults() throws {
        let s = try Self.scenario(["rollout={ candidate: candidate, baseline: baseline, planned: 10% }"])
        let r = try #require(s.rollout)
        #expect(r.planned == 0.1)
        #expect(r.margin == 2)
        #expect(r.baseline == ["baseline"])
        #expect(r.health.onlineFraction == 0.95)
        #expect(r.health.recoverWithin == 10 * 60 * 1_000_000_000)
        #expect(r.health.window == nil)
        #expect(r.search.seeds == 3)
    }

    @Test func scenariosWithoutARolloutStillLoad() throws {
        let s = try ScenarioLoader.load(path: ScenarioRuns.shipped("airtame-2020-02-08.yaml"))
        #expect(s.rollout == nil)
    }

    static let yaml = """
    version: 1
    name: r
    duration: 1h
    profiles: { p: {} }
    fleet:
      - { name: old, count: 100, firmware: 1.0.0, profile: p }
      - { name: new, count: 0, firmware: 2.0.0, profile: p }
    backend: { gateways: { count: 1 }, database: { cores: 1, rows: 100 } }
    rollout:
      candidate: new
      baseline: old
      planned: 25%

    """

    static func error(_ rollout: String) -> String {
        let text = yaml.replacingOccurrences(of: "  candidate: new\n  baseline: old\n  planned: 25%\n", with: rollout)
        do {
            _ = try ScenarioLoader.load(yaml: text, path: "r.yaml")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func unknownRolloutKeyIsNamedWithItsPosition() {
        #expect(Self.error("  candidate: new\n  baseline: old\n  planed: 25%\n")
                == "r.yaml:12:3: rollout.planed: unknown key; did you mean \"planned\"?")
    }

    @Test func unknownCandidateGroupIsSuggested() {
        #expect(Self.error("  candidate: nwe\n  baseline: old\n  planned: 25%\n")
                == "r.yaml:10:14: rollout.candidate: unknown group \"nwe\"; did you mean \"new\"?")
    }

    @Test func candidateCannotBeItsOwnBaseline() {
        #expect(Self.error("  candidate: new\n  baseline: [old, new]\n  planned: 25%\n")
                == "r.yaml:11:19: rollout.baseline[1]: \"new\" is the candidate; the baseline is the groups its devices come from")
    }

    @Test func marginBelowOneIsRefused() {
        #expect(Self.error("  candidate: new\n  baseline: old\n  planned: 25%\n  margin: 0.5x\n")
                == "r.yaml:13:11: rollout.margin: expected a factor like \"2x\" (at least 1), got \"0.5x\"")
    }

    @Test func plannedShareMustBeAFraction() {
        #expect(Self.error("  candidate: new\n  baseline: old\n  planned: 250%\n")
                == "r.yaml:12:12: rollout.planned: expected a fraction like \"25%\" or 0.25 (from 0 to 1), got \"250%\"")
    }

    @Test func missingPlannedShareIsReportedAtTheSection() {
        #expect(Self.error("  candidate: new\n  baseline: old\n")
                == "r.yaml:10:3: rollout: missing required key \"planned\"")
    }

    @Test func windowLongerThanTheRunIsRefused() {
        #expect(Self.error("  candidate: new\n  baseline: old\n  planned: 1%\n  health: { window: 2h }\n")
                == "r.yaml:13:21: rollout.health.window: 2h is longer than the run (duration 1h)")
    }

    // MARK: Reports

    @Test func junitFailsTheGateWhenThePlanIsNotSafe() throws {
        var r = RolloutReport(scenario: "x", fleetSize: 100, candidate: "c", baseline: ["b"], planned: 0.25, margin: 2,
                              health: .init(onlineFraction: 0.95, windowS: 3600, perturbationAtS: 600, perturbationDownS: 45,
                                            recoverWithinS: 600, holdS: 600),
                              seeds: [1], precision: 0.01)
        r.stability = .init(perSeed: [0.3], firstUnhealthy: [0.31], probes: [[]])
        r.recovery = .init(perSeed: [0.2], firstUnhealthy: [0.21], probes: [[]])
        r.safeShare = 0.2
        r.safe = false
        let xml = RolloutRenderer.junit(r)
        #expect(xml.contains("failures=\"1\""))
        #expect(RolloutRenderer.verdict(r)?.hasPrefix("NOT SAFE") == true)
        #expect(RolloutRenderer.html(r).contains("Metastable band"))
    }
}
