import DeviceModel
import Testing
@testable import FleetSim

/// The one meaning of each timeline action: its effects and its milestone, as both drivers
/// carry them out (`TimelineInterpreter`).
private let yaml = """
    version: 1
    name: interpreter
    seed: 1
    duration: 2h
    interval: 1m
    profiles:
      base: { heartbeat: 30s, messages: { call-join: 5m } }
    fleet:
      - { name: old, count: 10, firmware: 3.8.0, profile: base, model: dg2 }
      - { name: new, count: 10, firmware: 3.9.1, profile: base, model: hub }
    backend:
      gateways: { count: 2 }
      database: { cores: 2, rows: 100 }
    timeline:
      - { at: 1m, action: add-devices, group: new, count: 5, ramp: 30s }
      - { at: 2m, action: block, firmware: "3.8.x", note: "ops" }
      - { at: 3m, action: unblock, firmware: "3.8.x" }
      - { at: 4m, action: restart-gateways, down: 10s }
      - { at: 5m, action: restart-gateways, gateway: 1, down: 5s }
      - { at: 6m, action: set-db-cores, cores: 8 }
      - { at: 7m, action: drop-sessions, fraction: 0.25 }
      - { at: 8m, action: set-admission, admission: { connect_rate: 100, max_pending: 50 } }
      - { at: 9m, action: set-admission, admission: off }
      - { at: 10m, action: outage, for: 2m }
      - { at: 11m, action: fail-gateway, gateway: 0, for: 1m }
      - { at: 12m, action: http-errors, fraction: 0.5, status: 503, retry_after: 30s, for: 5m }
      - { at: 13m, action: latency, add: 2s, for: 5m }
      - { at: 14m, action: db-errors, fraction: 0.1, for: 5m }
      - { at: 15m, action: dns-failure, for: 5m }
      - { at: 16m, action: remove-devices, group: old }
      - { at: 17m, action: feature-failure, model: hub, message: call-join, for: 5m }
      - { at: 18m, action: http-errors, fraction: 1, status: 500, for: 1m }
    """

private func interpreter() throws -> (TimelineInterpreter, Scenario) {
    let scenario = try ScenarioLoader.load(yaml: yaml, path: "interpreter.yaml")
    return (TimelineInterpreter(scenario: scenario, plan: FleetPlan(scenario: scenario)), scenario)
}

@Suite struct TimelineInterpreterTests {
    /// Every action in timeline order: (effects, milestone text, when its fault ends, its hook).
    @Test func eachActionHasOneMeaningAndOneText() throws {
        var (timeline, scenario) = try interpreter()
        let s = Time.second, m = Time.minute
        let expected: [(effects: [TimelineInterpreter.Effect], text: String, endsAt: Nanoseconds?, hook: String?)] = [
            ([], "5 devices join group new over 30s", nil, nil),
            ([.firmware(try FirmwareRange(parsing: "3.8.x"), blocking: true, groups: [true, false])], "ops: firmware 3.8.x blocked", nil, "block"),
            ([.firmware(try FirmwareRange(parsing: "3.8.x"), blocking: false, groups: [false, false])], "firmware 3.8.x unblocked", nil, "unblock"),
            ([.gatewaysDown(nil, down: 10 * s, cause: "restart")], "all gateways restarted (down 10s)", nil, "restart-gateways"),
            ([.gatewaysDown(1, down: 5 * s, cause: "restart")], "gateway 1 restarted (down 5s)", nil, "restart-gateways"),
            ([.databaseCores(8)], "database capacity set to 8 cores", nil, "set-db-cores"),
            ([.sessionsDropped(fraction: 0.25, event: 6)], "network drops 25% of sessions (3 devices)", nil, nil),
            ([.admission(scenario.timeline[7].action.admission)], "admission control on", nil, "set-admission"),
            ([.admission(nil)], "admission control off", nil, "set-admission"),
            ([.gatewaysDown(nil, down: 2 * m, cause: "outage")], "outage: the backend refuses every connection for 2m", 12 * m, "outage"),
            ([.gatewaysDown(0, down: m, cause: "gateway failure")], "gateway 0 fails and stays down for 1m", 12 * m, "fail-gateway"),
            ([.faultSet(scenario.timeline[11].action)], "50% of upgrades answered 503 with Retry-After 30s for 5m", 17 * m, "http-errors"),
            ([.faultSet(scenario.timeline[12].action)], "the backend answers hellos and heartbeats 2s later for 5m", 18 * m, "latency"),
            ([.faultSet(scenario.timeline[13].action)], "10% of database queries fail for 5m", 19 * m, "db-errors"),
            ([.faultSet(scenario.timeline[14].action)], "the backend's name does not resolve for 5m", 20 * m, nil),
            ([.groupRemoved(0)], "3 devices of group old leave the fleet (powered off)", nil, nil),
            ([.featureFailureStarted(owner: 16, message: "call-join", groups: [FeatureFailure.Target(group: 1, every: 5 * m)])],
             "call-join fails for model hub (groups new; sessions kept) for 5m", 22 * m, "feature-failure"),
            ([.faultSet(scenario.timeline[17].action)], "100% of upgrades answered 500 without Retry-After for 1m", 19 * m, "http-errors"),
        ]
        #expect(expected.count == scenario.timeline.count)
        for (index, want) in expected.enumerated() {
            let step = timeline.start(index)
            #expect(step.effects == want.effects, "event \(index)")
            #expect(step.milestone.text(devices: 3) == want.text, "event \(index)")
            #expect(step.endsAt == want.endsAt, "event \(index)")
            #expect(step.hook == want.hook, "event \(index)")
        }
    }

    /// Each fault's end: what it clears (nothing when a later fault of its kind took over), its
    /// text, and whether its end hook runs.
    @Test func aFaultsEndClearsOnlyWhatItStillOwns() throws {
        var (timeline, scenario) = try interpreter()
        for index in scenario.timeline.indices { _ = timeline.start(index) }
        let ends: [(index: Int, effects: [TimelineInterpreter.Effect], text: String, hook: String?)] = [
            (9, [], "outage over: the backend accepts connections again", "outage"),
            (10, [], "gateway 0 back", "fail-gateway"),
            // Replaced by event 17: its end changes nothing and runs no hook; event 17's end clears.
            (11, [], "http-errors over: upgrades answered normally", nil),
            (17, [.faultCleared(scenario.timeline[17].action)], "http-errors over: upgrades answered normally", "http-errors"),
            (12, [.faultCleared(scenario.timeline[12].action)], "latency over: the backend answers at its own speed", "latency"),
            (13, [.faultCleared(scenario.timeline[13].action)], "db-errors over: database queries succeed", "db-errors"),
            (14, [.faultCleared(scenario.timeline[14].action)], "dns-failure over: the name resolves again", nil),
            (16, [.featureFailureEnded(owner: 16)], "call-join failure over: error replies per group: new 7", "feature-failure"),
        ]
        for want in ends {
            let ended = timeline.end(want.index)
            let step = try #require(ended)
            #expect(step.effects == want.effects, "end of \(want.index)")
            #expect(step.milestone.text(errors: [7]) == want.text, "end of \(want.index)")
            #expect(step.hook == want.hook, "end of \(want.index)")
        }
        // A fault ends once: a second end of event 12 clears nothing.
        let again = timeline.end(12)
        #expect(again?.effects == [])
        // Actions that are not faults have no end.
        let (first, drop) = (timeline.end(0), timeline.end(6))
        #expect(first == nil && drop == nil)
    }

    @Test func aReplacedFeatureFailureEndsWithoutCounts() throws {
        let scenario = try ScenarioLoader.load(yaml: yaml.replacingOccurrences(of: "  - { at: 18m, action: http-errors, fraction: 1, status: 500, for: 1m }",
                                                                              with: "  - { at: 18m, action: feature-failure, message: call-join, for: 1m }"),
                                               path: "interpreter.yaml")
        var timeline = TimelineInterpreter(scenario: scenario, plan: FleetPlan(scenario: scenario))
        for index in scenario.timeline.indices { _ = timeline.start(index) }
        let ended = timeline.end(16)
        let replaced = try #require(ended)
        #expect(replaced.effects.isEmpty && replaced.hook == nil)
        #expect(replaced.milestone.text() == "call-join failure over (replaced by a later one)")
        let later = timeline.end(17)
        #expect(later?.effects == [.featureFailureEnded(owner: 17)])
    }

    @Test func overlappingBlocksKeepAGroupBlockedUntilTheLastRangeGoes() throws {
        let scenario = try ScenarioLoader.load(yaml: yaml.replacingOccurrences(of: "  - { at: 3m, action: unblock, firmware: \"3.8.x\" }",
                                                                              with: "  - { at: 3m, action: block, firmware: \"3.x\" }"),
                                               path: "interpreter.yaml")
        var timeline = TimelineInterpreter(scenario: scenario, plan: FleetPlan(scenario: scenario))
        _ = timeline.start(1)
        let second = timeline.start(2)
        #expect(second.effects == [.firmware(try FirmwareRange(parsing: "3.x"), blocking: true, groups: [true, true])])
        #expect(timeline.blockList.ranges.count == 2)
    }
}

private extension Scenario.Action {
    var admission: Scenario.Admission? {
        if case .setAdmission(let a) = self { return a }
        return nil
    }
}
