import Foundation
import Testing
@testable import FleetSim
import LoadReport

/// The status history's incidents (scenarios/incidents/): every file validates and simulates,
/// with its `x-hardened:` overrides too, and each fault shows in its report.
@Suite(.serialized, .tags(.slow)) struct IncidentScenarioTests {
    static let folder = ScenarioRuns.repository.appendingPathComponent("scenarios/incidents")
    static let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasSuffix(".yaml") }.sorted()

    static func path(_ file: String) -> String { folder.appendingPathComponent(file).path }

    /// A top-level list of --set overrides of a file (`x-hardened:`, `x-live:`, …), as
    /// scripts/incident-table.py reads it; empty when the file has none.
    static func overrides(_ key: String, of file: String) throws -> [String] {
        let lines = try String(contentsOfFile: path(file), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("\(key):") }) else { return [] }
        return lines[(start + 1)...].prefix { $0.hasPrefix("  -") }.map { String($0.dropFirst(3)).trimmingCharacters(in: .whitespaces) }
    }

    /// The `x-hardened:` list of a file.
    static func hardened(_ file: String) throws -> [String] { try overrides("x-hardened", of: file) }

    @Test func thereIsAScenarioPerIncident() {
        #expect(Self.files.count == 9)   // ten reports; the 2020 postmortem is ../airtame-2020-02-08.yaml
    }

    @Test(arguments: files)
    func everyIncidentValidatesAndSimulates(file: String) throws {
        let hardened = try Self.hardened(file)
        #expect(!hardened.isEmpty, "\(file) names its full-jitter + admission overrides")
        for overrides in [[], hardened] {
            let r = try ScenarioRuns.run(Self.path(file), overrides: overrides)
            #expect(r.incomplete == nil)
            #expect(r.summary.durationS == 6 * 3600)
            // Each fault's start and end are milestones; the fleet is back at the end.
            let s = try ScenarioLoader.load(path: Self.path(file))
            let faults = s.timeline.filter { $0.action.faultDuration != nil }
            #expect(r.milestones(.timeline).count == s.timeline.count + faults.count)
            #expect(r.summary.onlineFractionFinal > 0.95, "\(file) \(overrides.isEmpty ? "" : "hardened")")
        }
    }

    @Test func theEmailProviderOutageHasNoDeviceFacingEffect() throws {
        let r = try ScenarioRuns.run(Self.path("email-provider.yaml"))
        #expect(r.summary.onlineFractionMin > 0.95)
        #expect(r.summary.rejects == 0 && r.summary.handshakeTimeouts == 0 && r.summary.ackTimeouts == 0)
        #expect(r.summary.backendCrashes == 0 && r.storm.massDisconnects.isEmpty)
        #expect(r.summary.dnsFailures == nil && r.summary.featureErrors == nil)
        #expect(r.milestones.allSatisfy { $0.kind == .timeline })
    }

    @Test func theTeamsIncidentFailsCallsOnHubsWithoutADisconnect() throws {
        let r = try ScenarioRuns.run(Self.path("teams-calls.yaml"))
        let quiet = try ScenarioRuns.run(Self.path("teams-calls.yaml"), overrides: ["timeline=[]"])
        #expect(try #require(r.summary.featureErrors) > 25_000)   // ~5,000 hubs × 3 h ÷ 30 min
        #expect(r.series == quiet.series)
        #expect(r.milestones(.timeline).last?.detail.hasPrefix("call-join failure over: error replies per group: hub ") == true)
    }

    @Test func theDNSIncidentCountsDNSFailures() throws {
        let r = try ScenarioRuns.run(Self.path("dns-resolution.yaml"))
        #expect(try #require(r.summary.dnsFailures) > 10_000)
        #expect(r.summary.onlineFractionMin < 0.5)
    }

    /// The metastability probe: the ~200 devices that tipped the backend leave at 05:00, after
    /// the collapse; the fleet does not come back until the scanning firmware is blocked.
    @Test func removingTheTriggerDoesNotBringTheFleetBack() throws {
        let r = try ScenarioRuns.run(ScenarioRuns.shipped("airtame-2020-02-08-trigger-removed.yaml"))
        let removal = 5 * 3600.0, block = 16 * 3600.0 + 20 * 60
        #expect(r.milestones(.timeline).contains { $0.tS == removal && $0.detail.hasSuffix("200 devices of group friday-adds leave the fleet (powered off)") })
        #expect(r.milestones(.fleetCollapse).contains { $0.tS < removal })
        #expect(r.milestones(.backendCrash).contains { $0.tS > removal + 3600 && $0.tS < block })
        #expect(!r.milestones(.recovered).contains { $0.tS < block })
        let recovered = try #require(r.milestones(.recovered).last)
        #expect(recovered.tS > block && recovered.tS < block + 1800)
        // The removed devices are no longer eligible.
        #expect(r.series.eligible[r.series.tS.firstIndex(of: removal + 60)!] == 19_800)
    }
}
