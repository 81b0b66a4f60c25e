import DeviceModel
import Testing
import WSClient
@testable import FleetSim
@testable import ReferenceBackend

/// One admission rule from the scenario to the backend: a device refused after a live
/// `set-admission` waits what a device refused in the simulation of the same action waits.
@Suite struct AdmissionRetryAfterTests {
    static let yaml = """
        version: 1
        name: admission
        seed: 3
        duration: 10m
        interval: 1m
        profiles:
          p: { heartbeat: 30s }
        fleet:
          - { name: all, count: 10, firmware: 3.9.1, profile: p }
        backend:
          gateways: { count: 1 }
          database: { cores: 2, rows: 100 }
        timeline:
          - { at: 1m, action: set-admission, admission: { connect_rate: 1, burst: 1, retry_after: 30s } }
        """

    /// The Retry-After the second of two connects at once is refused with: `(simulated, live)`.
    static func waits(timeScale: Double) throws -> (simulated: Nanoseconds?, live: Nanoseconds?) {
        let scenario = try ScenarioLoader.load(yaml: yaml, path: "admission.yaml")
        var timeline = TimelineInterpreter(scenario: scenario, plan: FleetPlan(scenario: scenario))
        guard case .admission(let admission)? = timeline.start(0).effects.first else { return (nil, nil) }

        // Simulated: the backend model applies the effect.
        var model = BackendModel(scenario.backend, interval: scenario.interval, intervals: 10)
        model.setAdmission(admission, now: Time.minute)
        _ = model.refusal(at: 0, now: Time.minute)
        let simulated = model.refusal(at: 0, now: Time.minute)

        // Live: the body the runner sends to `/admin/admission`, read as the backend reads it, its
        // refusal as the backend words its 503, and that read back as the device reads it.
        let body = LiveRunner.admissionBody(admission, timeScale: timeScale)
        var gate = AdmissionGate(policy: try AdmissionPolicy(parsing: body), now: 0)
        _ = gate.admit(pending: 0, now: 0)
        guard case .refused(_, let wall) = gate.admit(pending: 0, now: 0) else { return (simulated, nil) }
        let header = String(BackendCore.wholeSeconds(wall))
        let outcome = LoopDriver.outcome(.http(status: 503, retryAfter: header), timeScale: timeScale)
        guard case .message(.reject(_, let live)) = DeviceProtocol.input(for: outcome, upgraded: false) else { return (simulated, nil) }
        return (simulated, live)
    }

    @Test(arguments: [1.0, 2.0, 30.0])
    func aDeviceRefusedAfterALiveSetAdmissionWaitsAsInTheSimulation(timeScale: Double) throws {
        let (simulated, live) = try Self.waits(timeScale: timeScale)
        #expect(simulated == 30 * Time.second)
        #expect(live == simulated)
    }

    @Test func theLiveBodyIsTheOneTextFormScaledToWallTime() throws {
        let admission = Scenario.Admission(connectRate: 100, burst: 50.5, maxPending: 20, retryAfter: 30 * Time.second)
        #expect(LiveRunner.admissionBody(admission, timeScale: 2) == "rate=200 burst=51 max-pending=20 retry-after=15s")
        #expect(LiveRunner.admissionBody(nil, timeScale: 2) == "off")
        #expect(try AdmissionPolicy(parsing: LiveRunner.admissionBody(admission, timeScale: 1)).description
                == "rate=100 burst=51 max-pending=20 retry-after=30s")
    }
}
