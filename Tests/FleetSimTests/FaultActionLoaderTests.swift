import DeviceModel
import Testing
@testable import FleetSim

/// A scenario whose timeline is the one event given, for the fault actions' validation.
private func scenario(_ event: String) -> String {
    """
    version: 1
    name: faults
    duration: 2h
    profiles:
      base: { messages: { call-join: 20m } }
    fleet:
      - { name: hubs, count: 10, firmware: 3.9.1, profile: base, model: hub }
      - { name: adds, count: 5, firmware: 3.8.0, profile: base }
    backend:
      gateways: { count: 3 }
      database: { cores: 1, rows: 10 }
    timeline:
      - \(event)
    """
}

private func action(_ event: String) throws -> Scenario.Action {
    try #require(try ScenarioLoader.load(yaml: scenario(event), path: "f.yaml").timeline.first).action
}

private func failure(_ event: String) -> String {
    do {
        _ = try ScenarioLoader.load(yaml: scenario(event), path: "f.yaml")
        return "loaded"
    } catch {
        return "\(error)"
    }
}

struct FaultActionLoaderTests {
    @Test func everyFaultActionIsRead() throws {
        #expect(try action("{ at: 1h, action: outage, for: 20m }") == .outage(duration: 20 * Time.minute))
        #expect(try action("{ at: 1h, action: fail-gateway, gateway: 2, for: 30m }")
            == .failGateway(gateway: 2, duration: 30 * Time.minute))
        #expect(try action("{ at: 1h, action: http-errors, fraction: 30%, status: 503, retry_after: 30s, for: 10m }")
            == .httpErrors(fraction: 0.3, status: 503, retryAfter: 30 * Time.second, duration: 10 * Time.minute))
        #expect(try action("{ at: 1h, action: http-errors, fraction: 0.1, for: 10m }")
            == .httpErrors(fraction: 0.1, status: 503, retryAfter: nil, duration: 10 * Time.minute))
        #expect(try action("{ at: 1h, action: latency, add: 2s, for: 15m }") == .latency(add: 2 * Time.second, duration: 15 * Time.minute))
        #expect(try action("{ at: 1h, action: db-errors, fraction: 50%, for: 10m }") == .dbErrors(fraction: 0.5, duration: 10 * Time.minute))
        #expect(try action("{ at: 1h, action: dns-failure, for: 1h }") == .dnsFailure(duration: Time.hour))
        #expect(try action("{ at: 1h, action: remove-devices, group: adds }") == .removeDevices(group: "adds"))
        #expect(try action("{ at: 1h, action: power-off, group: adds }") == .removeDevices(group: "adds"))
        #expect(try action("{ at: 1h, action: feature-failure, model: hub, firmware: \">=3.9\", message: call-join, for: 2h }")
            == .featureFailure(model: "hub", firmware: try FirmwareRange(parsing: ">=3.9"), message: "call-join", duration: 2 * Time.hour))
    }

    @Test func theModelAndTheMessagesAreRead() throws {
        let s = try ScenarioLoader.load(yaml: scenario("{ at: 1h, action: dns-failure, for: 1h }"), path: "f.yaml")
        #expect(s.fleet.map(\.model) == ["hub", nil])
        #expect(s.profiles["base"]?.messages == [Scenario.Message(kind: "call-join", every: 20 * Time.minute)])
    }

    @Test func badFaultsAreOneLineWithTheirPosition() {
        #expect(failure("{ at: 1h, action: outage }") == "f.yaml:13:5: timeline[0]: missing required key \"for\"")
        #expect(failure("{ at: 1h, action: outage, for: 20 }")
            == "f.yaml:13:36: timeline[0].for: expected a duration like \"30s\", got \"20\"")
        #expect(failure("{ at: 1h, action: outage, for: 0s }") == "f.yaml:13:36: timeline[0].for: expected a duration > 0, got \"0s\"")
        #expect(failure("{ at: 1h, action: fail-gateway, gateway: 3, for: 1m }")
            == "f.yaml:13:46: timeline[0].gateway: expected a gateway index from 0 to 2, got \"3\"")
        #expect(failure("{ at: 1h, action: http-errors, fraction: 130%, for: 1m }")
            == "f.yaml:13:46: timeline[0].fraction: expected a fraction like \"25%\" or 0.25 (from 0 to 1), got \"130%\"")
        #expect(failure("{ at: 1h, action: http-errors, fraction: 1%, status: 404, for: 1m }")
            == "f.yaml:13:58: timeline[0].status: expected an HTTP status from 500 to 599, got \"404\"")
        #expect(failure("{ at: 1h, action: latency, for: 1m }") == "f.yaml:13:5: timeline[0]: missing required key \"add\"")
        #expect(failure("{ at: 1h, action: dns-failure, for: 1m, group: hubs }")
            == "f.yaml:13:45: timeline[0].group: does not apply to action dns-failure, which takes \"for\"")
        #expect(failure("{ at: 1h, action: remove-devices, group: hbus }")
            == "f.yaml:13:46: timeline[0].group: unknown group \"hbus\"; did you mean \"hubs\"?")
        #expect(failure("{ at: 1h, action: feature-failure, model: hbu, message: call-join, for: 1m }")
            == "f.yaml:13:47: timeline[0].model: unknown model \"hbu\"; did you mean \"hub\"?")
        #expect(failure("{ at: 1h, action: feature-failure, message: call-joni, for: 1m }")
            == "f.yaml:13:49: timeline[0].message: unknown message \"call-joni\"; did you mean \"call-join\"?")
        #expect(failure("{ at: 1h, action: dns-falure, for: 1m }").hasSuffix("; did you mean \"dns-failure\"?"))
    }

    @Test func badModelsAndMessagesAreOneLineWithTheirPosition() {
        let base = scenario("{ at: 1h, action: dns-failure, for: 1h }")
        func fail(_ yaml: String) -> String {
            do { _ = try ScenarioLoader.load(yaml: yaml, path: "f.yaml"); return "loaded" } catch { return "\(error)" }
        }
        #expect(fail(base.replacingOccurrences(of: "call-join: 20m", with: "call-join: 20"))
            == "f.yaml:5:34: profiles.base.messages.call-join: expected a duration like \"30s\", got \"20\"")
        #expect(fail(base.replacingOccurrences(of: "model: hub", with: "model: \"\""))
            == "f.yaml:7:69: fleet[0].model: expected a text, got an empty one")
    }
}
