import Benchmark
import DeviceModel
import FleetSim
import Foundation
import LoadReport

// Simulation throughput, allocations and memory.
//
// - `SteadyFleet-1h` / `SteadyFleet-2h`: 20,000 warm devices heart-beating every 30 s against an
//   unsaturated backend with session churn: the steady state of the event loop. The second runs
//   twice as long, so (allocations(2h) - allocations(1h)) / (events(2h) - events(1h)) is the
//   number of allocations per event in steady state, free of set-up and report costs.
// - `Postmortem-x5`: the 2020-02-08 replay scaled to 100,000 devices over 17 simulated hours.
// - `Postmortem-x10`: the same at 200,000 devices; with x5, the difference in peak resident
//   memory over the difference in devices is the marginal memory per device.
// - `Postmortem-x50`: the same at 1,000,000 devices (about 3 minutes): wall time against the
//   issue's 3 minutes, and peak resident memory over 1,000,000 against its 200 bytes a device.
//
// Custom metrics: `events` (events processed per run) and `events_per_s`.

enum Metrics {
    static let events = BenchmarkMetric.custom("events", polarity: .prefersLarger, useScalingFactor: false)
    static let eventsPerSecond = BenchmarkMetric.custom("events_per_s", polarity: .prefersLarger, useScalingFactor: false)
}

func steadyFleet(hours: Int) -> Scenario {
    let behaviour = DeviceBehaviour(heartbeat: 30 * Time.second, handshakeTimeout: 10 * Time.second,
                                    ackTimeout: 30 * Time.second, connectTimeout: 10 * Time.second,
                                    reconnect: ReconnectPolicy(kind: .fullJitter, base: Time.second, cap: 60 * Time.second))
    var group = Scenario.Group(name: "fleet", count: 20_000, firmware: FirmwareVersion("3.7.2")!, profile: "p")
    group.warm = true
    return Scenario(
        name: "steady-fleet", seed: 1, duration: Nanoseconds(hours) * Time.hour, interval: Time.minute,
        profiles: ["p": Scenario.Profile(name: "p", lookup: .indexed, behaviour: behaviour, sessionLifetime: 30 * Time.minute)],
        fleet: [group],
        backend: Scenario.Backend(
            gateways: Scenario.Gateways(count: 4, memoryBase: 256 << 20, memoryLimit: 4 << 30, perConnection: 64 << 10,
                                        perPending: 256 << 10, restart: 30 * Time.second),
            database: Scenario.Database(cores: 4, rows: 100_000, scanCostPerRow: 10 * Time.microsecond,
                                        indexedCost: Time.millisecond, heartbeatCost: 200 * Time.microsecond)))
}

func postmortem(scale: Double) -> Scenario {
    let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scenarios/airtame-2020-02-08.yaml").path
    return try! ScenarioLoader.load(path: file).scaled(by: scale)
}

func run(_ scenario: Scenario, _ benchmark: Benchmark) {
    var simulation = Simulation(scenario: scenario)
    let report = simulation.run()
    blackHole(report)
    let events = Int(report.summary.eventsProcessed ?? 0)
    benchmark.measurement(Metrics.events, events)
    if let wall = report.summary.wallS, wall > 0 {
        benchmark.measurement(Metrics.eventsPerSecond, Int(Double(events) / wall))
    }
}

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident,
                                      Metrics.events, Metrics.eventsPerSecond]
    for hours in [1, 2] {
        Benchmark("SteadyFleet-\(hours)h",
                  configuration: .init(metrics: metrics, timeUnits: .milliseconds, warmupIterations: 1,
                                       maxDuration: .seconds(30), maxIterations: 5)) { benchmark in
            run(steadyFleet(hours: hours), benchmark)
        }
    }
    for scale in [5, 10, 50] {
        Benchmark("Postmortem-x\(scale)",
                  configuration: .init(metrics: metrics, timeUnits: .seconds, warmupIterations: 0,
                                       maxDuration: .seconds(300), maxIterations: 1)) { benchmark in
            run(postmortem(scale: Double(scale)), benchmark)
        }
    }
}
