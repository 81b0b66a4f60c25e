import DeviceModel
import Foundation
import Testing
@testable import FleetSim
import LoadReport

/// A small healthy fleet (sessions end by themselves every ~10 minutes, so devices reconnect in
/// steady state) with one fault from 30m to 40m: each fault must show in the report's counters
/// and milestones, and its end must be followed by recovery.
private func faultScenario(_ action: String) -> String {
    """
    version: 1
    name: fault
    seed: 5
    duration: 90m
    interval: 1m
    profiles:
      base:
        heartbeat: 30s
        handshake_timeout: 10s
        ack_timeout: 20s
        session_lifetime: 10m
        reconnect: { policy: full-jitter, base: 1s, cap: 1m }
        messages: { call-join: 5m }
      other: { extends: base, messages: { screen-share: 5m } }
    fleet:
      - { name: hubs,    count: 400, firmware: 3.9.1, profile: base,  model: hub, join: { warm: true } }
      - { name: classic, count: 400, firmware: 3.9.1, profile: base,  model: dg2, join: { warm: true } }
      - { name: others,  count: 200, firmware: 3.8.0, profile: other, join: { warm: true } }
    backend:
      gateways: { count: 4, memory_limit: 2GiB }
      database: { cores: 2, rows: 2000, queue_timeout: 20s }
    timeline:
      - { at: 30m, \(action) }
    """
}

private func run(_ yaml: String) throws -> Report {
    var simulation = Simulation(scenario: try ScenarioLoader.load(yaml: yaml, path: "fault.yaml"))
    return simulation.run()
}

extension Report {
    /// The series value of the interval ending at `t` seconds.
    func at(_ t: Double, _ path: KeyPath<Report.Series, [Int]>) -> Int { series[keyPath: path][series.tS.firstIndex(of: t)!] }
    func onlineFraction(at t: Double) -> Double { Double(at(t, \.online)) / Double(at(t, \.eligible)) }
    /// Intervals ending in (from, to] seconds.
    func sum(_ path: KeyPath<Report.Series, [Int]>, from: Double, to: Double) -> Int {
        zip(series.tS, series[keyPath: path]).filter { $0.0 > from && $0.0 <= to }.reduce(0) { $0 + $1.1 }
    }
    func timelineDetails() -> [(Double, String)] { milestones(.timeline).map { ($0.tS, $0.detail) } }
}

private let start = 1800.0, end = 2400.0

@Suite(.serialized, .tags(.slow)) struct FaultActionTests {
    @Test func withoutAFaultTheFleetIsQuiet() throws {
        let r = try run(faultScenario("action: drop-sessions, fraction: 0"))
        #expect(r.summary.onlineFractionMin > 0.95)
        #expect(r.summary.rejects == 0 && r.summary.handshakeTimeouts == 0 && r.summary.ackTimeouts == 0)
        #expect(r.summary.dnsFailures == nil && r.summary.featureErrors == nil)
    }

    @Test func anOutageDropsEveryoneAndTheHerdReturnsAtItsEnd() throws {
        let r = try run(faultScenario("action: outage, for: 10m"))
        let details = r.timelineDetails()
        #expect(details.contains { $0.0 == start && $0.1.hasPrefix("outage: the backend refuses every connection for 10m") })
        #expect(details.contains { $0.0 == end && $0.1.hasPrefix("outage over") })
        #expect(r.at(2100, \.online) == 0)
        #expect(r.milestones(.fleetCollapse).contains { $0.tS >= start && $0.tS <= start + 60 })
        let recovered = try #require(r.milestones(.recovered).first { $0.tS > end })
        #expect(recovered.tS < end + 600)
        // Each gateway's drop is a mass disconnect of its own, as with restart-gateways.
        #expect(r.storm.massDisconnects.filter { $0.cause == "outage" }.reduce(0) { $0 + $1.devices } > 900)
        // The devices kept trying while it was down, and came back in a herd.
        #expect(r.sum(\.connectAttempts, from: start, to: end) > 1000)
        #expect(r.sum(\.connects, from: start, to: end) == 0)
        #expect(r.storm.peakReconnectRatePerS > 20)
        #expect(r.summary.onlineFractionFinal > 0.95)
    }

    @Test func aFailedGatewaysDevicesReconnectElsewhereWhileItIsDown() throws {
        let r = try run(faultScenario("action: fail-gateway, gateway: 2, for: 10m"))
        let details = r.timelineDetails()
        #expect(details.contains { $0.0 == start && $0.1 == "gateway 2 fails and stays down for 10m" })
        #expect(details.contains { $0.0 == end && $0.1 == "gateway 2 back" })
        let drop = try #require(r.storm.massDisconnects.first { $0.cause == "gateway failure" })
        #expect(drop.devices > 150 && drop.devices < 350)   // about a quarter of the fleet
        // Back to 95% long before the gateway is: the others took them.
        #expect(try #require(drop.to95PctS) < 300)
        #expect(r.onlineFraction(at: 2280) > 0.95)
        #expect(r.milestones(.fleetCollapse).isEmpty)
    }

    @Test func httpErrorsAreRejectsOnlyWhileTheyLastAndRetryAfterSlowsTheRetries() throws {
        let with = try run(faultScenario("action: http-errors, fraction: 80%, status: 503, retry_after: 5m, for: 10m"))
        let without = try run(faultScenario("action: http-errors, fraction: 80%, status: 503, for: 10m"))
        for r in [with, without] {
            #expect(r.sum(\.rejects, from: start, to: end) > 50)
            #expect(r.sum(\.rejects, from: 0, to: start) == 0 && r.sum(\.rejects, from: end + 60, to: 5400) == 0)
            #expect(r.summary.onlineFractionFinal > 0.95)
            #expect(r.timelineDetails().contains { $0.0 == end && $0.1.hasPrefix("http-errors over") })
        }
        #expect(with.timelineDetails().contains { $0.1 == "80% of upgrades answered 503 with Retry-After 5m for 10m" })
        // Honouring Retry-After, the refused devices wait: fewer attempts, fewer refusals.
        #expect(with.sum(\.connectAttempts, from: start, to: end) < without.sum(\.connectAttempts, from: start, to: end))
        // A 500 is a failed connect (no Retry-After meaning): still counted as a refusal.
        let r500 = try run(faultScenario("action: http-errors, fraction: 100%, status: 500, for: 10m"))
        #expect(r500.sum(\.connects, from: start + 60, to: end) == 0)
        #expect(r500.sum(\.rejects, from: start, to: end) > 100)
    }

    @Test func addedLatencyPastTheHandshakeTimeoutStopsReconnectsButKeepsSessions() throws {
        let r = try run(faultScenario("action: latency, add: 15s, for: 10m"))
        #expect(r.sum(\.handshakeTimeouts, from: start, to: end + 60) > 100)
        #expect(r.sum(\.handshakeTimeouts, from: end + 60, to: 5400) == 0)
        #expect(r.summary.ackTimeouts == 0)   // 15 s is within the 20 s ack timeout
        #expect(r.summary.onlineFractionFinal > 0.95)
        #expect(r.timelineDetails().contains { $0.0 == end && $0.1.hasPrefix("latency over") })
        // A small addition shows in the handshake latency, no more.
        let small = try run(faultScenario("action: latency, add: 2s, for: 10m"))
        let i = small.series.tS.firstIndex(of: 2100)!
        #expect(try #require(small.series.handshakeP50Ms[i]) > 2000)
        #expect(try #require(small.series.handshakeP50Ms[small.series.tS.firstIndex(of: 3000)!]) < 1000)
        #expect(small.summary.handshakeTimeouts == 0)
    }

    @Test func databaseErrorsFailLookupsAndHeartbeats() throws {
        let r = try run(faultScenario("action: db-errors, fraction: 50%, for: 10m"))
        #expect(r.sum(\.rejects, from: start, to: end) > 50)          // lookups closed with 1011
        #expect(r.sum(\.ackTimeouts, from: start, to: end + 60) > 50)  // heartbeats not acknowledged
        #expect(r.sum(\.rejects, from: end + 60, to: 5400) == 0)
        #expect(r.timelineDetails().contains { $0.1 == "50% of database queries fail for 10m" })
        #expect(r.summary.onlineFractionFinal > 0.95)
    }

    @Test func dnsFailuresAreCountedApartAndTheFleetComesBack() throws {
        let r = try run(faultScenario("action: dns-failure, for: 10m"))
        let dns = try #require(r.summary.dnsFailures)
        #expect(dns > 100 && dns <= r.sum(\.connectAttempts, from: start - 60, to: end + 60))
        // Sessions that end cannot be opened again: the fleet drains, then recovers.
        #expect(r.onlineFraction(at: end) < 0.9)
        #expect(r.summary.onlineFractionFinal > 0.95)
        #expect(r.summary.rejects == 0)
        let json = try JSONSerialization.jsonObject(with: r.jsonData()) as! [String: Any]
        #expect((json["summary"] as! [String: Any])["dns_failures"] as? Int == dns)
        #expect(r.timelineDetails().contains { $0.0 == end && $0.1 == "dns-failure over: the name resolves again" })
    }

    @Test func removedDevicesLeaveTheFleetAndDoNotCountAsOffline() throws {
        for name in ["remove-devices", "power-off"] {
            let r = try run(faultScenario("action: \(name), group: others"))
            #expect(r.at(1800, \.eligible) == 800)
            #expect(r.at(1740, \.eligible) == 1000)
            #expect(r.summary.onlineFractionMin > 0.95)
            #expect(r.timelineDetails().contains { $0.1 == "200 devices of group others leave the fleet (powered off)" })
        }
        // Devices of the group that had not joined yet never do.
        let late = try run(faultScenario("action: remove-devices, group: others").replacingOccurrences(
            of: "profile: other, join: { warm: true }", with: "profile: other, join: { at: 40m, ramp: 10m }"))
        #expect(late.series.eligible.allSatisfy { $0 == 800 })
    }

    @Test func aFeatureFailureRepliesWithErrorsToItsCohortWithoutADisconnect() throws {
        let quiet = try run(faultScenario("action: drop-sessions, fraction: 0"))
        let r = try run(faultScenario("action: feature-failure, model: hub, message: call-join, for: 10m"))
        // ~400 online hubs × 10 minutes ÷ one call-join per 5 minutes.
        let errors = try #require(r.summary.featureErrors)
        #expect(errors > 700 && errors <= 800)
        let endDetail = try #require(r.timelineDetails().first { $0.0 == end }?.1)
        #expect(endDetail == "call-join failure over: error replies per group: hubs \(errors)")
        // Nothing else changes: the same disconnects, connects and series as without the fault.
        #expect(r.summary.disconnects == quiet.summary.disconnects)
        #expect(r.series == quiet.series)
        // By firmware: the 3.9.1 groups that send call-join (hubs and classic), not the others.
        let byFirmware = try run(faultScenario("action: feature-failure, firmware: \">=3.9\", message: call-join, for: 10m"))
        #expect(try #require(byFirmware.summary.featureErrors) > 1400)
    }

    @Test func faultsAreDeterministic() throws {
        let yaml = faultScenario("action: http-errors, fraction: 30%, for: 10m")
        #expect(try run(yaml).deterministicJSON() == run(yaml).deterministicJSON())
    }

    @Test func aLaterFaultOfTheSameKindIsNotEndedByAnEarlierOnesEnd() throws {
        let yaml = faultScenario("action: dns-failure, for: 10m }\n  - { at: 35m, action: dns-failure, for: 20m")
        let r = try run(yaml)
        // The first one's end (40m) does not let the name resolve: no connect until 55m.
        #expect(r.sum(\.connects, from: end + 60, to: 3300) == 0)
        #expect(r.sum(\.connects, from: 3300, to: 5400) > 0)
    }

    @Test func liveRunsApplyEveryFaultWithTheEmbeddedBackendAndTheBackendsFaultsNeedAHookOnATarget() throws {
        let target = "ws://example.invalid/device"
        let backendFaults = ["outage, for: 10m", "fail-gateway, gateway: 2, for: 10m", "http-errors, fraction: 30%, for: 10m",
                             "latency, add: 2s, for: 10m", "db-errors, fraction: 50%, for: 10m",
                             "feature-failure, model: hub, message: call-join, for: 10m"]
        for action in backendFaults {
            let s = try ScenarioLoader.load(yaml: faultScenario("action: \(action)"), path: "fault.yaml")
            #expect(LiveRunner.unsupportedActions(s, target: nil).isEmpty)
            #expect(LiveRunner.unsupportedActions(s, target: target).map(\.action) == [s.timeline[0].action.name])
        }
        for action in ["dns-failure, for: 10m", "remove-devices, group: others", "power-off, group: others"] {
            let s = try ScenarioLoader.load(yaml: faultScenario("action: \(action)"), path: "fault.yaml")
            #expect(LiveRunner.unsupportedActions(s, target: target).isEmpty, "the devices carry out \(action)")
        }
        let hooked = try ScenarioLoader.load(yaml: faultScenario("action: http-errors, fraction: 30%, for: 10m")
            + "\nhooks:\n  http-errors: { shell: \"echo {phase} {fraction} {status} {retry_after} {for} {at}\" }\n", path: "fault.yaml")
        #expect(LiveRunner.unsupportedActions(hooked, target: target).isEmpty)
    }

    @Test func aFaultsHookCanUseOnlyItsOwnValuesAndAClientSideFaultTakesNone() throws {
        for (hooks, message) in [
            ("latency: { shell: \"echo {fraction}\" }",
             "hooks.latency.shell: {fraction} is not a value of latency; its hook can use {add}, {for}, {phase}, {at}"),
            ("dns-failure: { shell: x }", "hooks.dns-failure: dns-failure is carried out by the devices themselves and takes no hook"),
        ] {
            #expect {
                try ScenarioLoader.load(yaml: faultScenario("action: latency, add: 2s, for: 10m") + "\nhooks:\n  " + hooks + "\n",
                                        path: "fault.yaml")
            } throws: { "\($0)".contains(message) }
        }
    }

    @Test func mergedShardsAddTheirDNSFailures() throws {
        var a = try run(faultScenario("action: drop-sessions, fraction: 0"))
        var b = a
        a.summary.dnsFailures = 3
        b.summary.dnsFailures = 4
        b.summary.featureErrors = 2
        let merged = try ReportMerge.merge([a, b])
        #expect(merged.summary.dnsFailures == 7)
        #expect(merged.summary.featureErrors == 2)
        let clean = try run(faultScenario("action: drop-sessions, fraction: 0"))
        #expect(try ReportMerge.merge([clean, clean]).summary.dnsFailures == nil)
    }
}
