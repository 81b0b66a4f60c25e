import DeviceModel
import Foundation
import NIOCore
import WSClient

/// Calibrates a scenario's backend model against the backend it runs against: the embedded
/// reference backend (as `fleetsim run` would start it) or a target.
///
/// - At low load, one connection at a time (service time, not queueing): each profile's
///   handshake (`hello` → `welcome` minus the ping → pong round trip), with a device of a group
///   on that profile, so the lookup is the one that group makes.
/// - The heartbeat where the backend does its work: a reference backend acknowledges a heartbeat
///   at once and writes `last_seen` in batches, so the cost is read from its `/metrics` across
///   flushes (query time and any stated-cost padding ÷ updates written). Without metrics, the
///   heartbeat → ack time over the round trip, said so in the file.
/// - Memory per connection: `idle` connections held open, the backend's anonymous memory before
///   and after (from `/metrics`).
/// - Under load: the scanning profile's handshakes from many connections at once for a few
///   seconds: the database's sustained queries per second, and memory against pending handshakes.
///
/// Wall-clock figures become scenario time through the time scale, as a live run compresses them.
public enum ScenarioCalibrator {
    public struct Options: Sendable {
        public var samples = 20
        public var idleConnections = 200
        public var loadSeconds = 3.0
        public var loadConcurrency = 64
        public var timeout = 10.0
        public init() {}
    }

    public struct ProfileCost: Sendable, Equatable {
        public var profile: String
        public var lookup: Scenario.Lookup
        public var group: String
        /// hello → welcome over the round trip, median, wall seconds.
        public var handshakeS: Double
        public var samples: Int
        /// What the database itself spent per lookup of this kind while the samples ran (its real
        /// query time and any stated-cost padding, from `/metrics`); nil without metrics.
        public var databaseS: Double?

        /// The model's cost of this profile's lookup: the database's own figure when the backend
        /// gives one, else the whole handshake over the round trip.
        public var lookupS: Double { databaseS ?? handshakeS }
    }

    public struct Result: Sendable {
        public var target: String
        public var measuredAt: Date
        public var timeScale: Double
        public var roundTripS: Double
        public var profiles: [ProfileCost]
        /// Per heartbeat, wall seconds, and how it was measured.
        public var heartbeatS: Double
        public var heartbeatSource: String
        /// Rows of the backend's table when it says (`/metrics`), else nil.
        public var rows: Int?
        public var workers: Int?
        /// The backend's anonymous memory before the held connections (per process), bytes.
        public var memoryBase: Double?
        public var memoryPerConnection: Double?
        public var connectionsHeld: Int
        public var memoryPerPending: Double?
        public var queriesPerS: Double?
        public var loadSeconds: Double
        public var loadBusy: Double?
        public var peakPending: Int?
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    /// Measures `scenario`'s backend at `url`; `metrics`: its Prometheus endpoints (may be empty).
    public static func measure(_ scenario: Scenario, url: String, metrics: [String], timeScale: Double,
                               options: Options = Options(), shouldStop: @escaping @Sendable () -> Bool = { false }) throws -> Result {
        let plan = FleetPlan(scenario: scenario)
        let client = try WSClient()
        let endpoint = try client.resolve(try WSEndpoint(url: url)).wait()
        func check() throws { if shouldStop() { throw Failure(description: "interrupted") } }
        func scrape() -> PrometheusText? {
            var merged: [PrometheusText.Sample] = []
            for m in metrics {
                guard let r = try? HTTPRequest.send("GET", m, timeout: 2), r.status == 200,
                      let t = try? PrometheusText(parsing: r.body) else { return nil }
                merged += t.samples
            }
            return metrics.isEmpty ? nil : PrometheusText(samples: merged)
        }
        func total(_ t: PrometheusText?, _ name: String, _ labels: [String: String]) -> Double? {
            guard let t else { return nil }
            let v = t.samples.filter { $0.name == name && $0.labels == labels }.map(\.value)
            return v.isEmpty ? nil : v.reduce(0, +)
        }

        // A device of each profile's first group (its row is in the embedded backend's roster).
        var devices: [(profile: String, lookup: Scenario.Lookup, group: String, entry: DeviceRoster.Entry, spoken: DeviceProtocol)] = []
        for (gi, g) in plan.groups.enumerated() where !devices.contains(where: { $0.profile == g.profile }) {
            guard let d = (0..<plan.deviceCount).first(where: { plan.group(ofDevice: $0) == gi }) else { continue }
            let spoken = scenario.profiles[g.profile]?.protocolSpec ?? .default
            devices.append((g.profile, g.lookup, g.name, plan.identity(ofDevice: d), spoken))
        }
        guard !devices.isEmpty else { throw Failure(description: "the scenario's fleet has no devices to calibrate with") }

        // 1. Handshakes, one connection at a time.
        var rtts: [Double] = [], beats: [Double] = []
        var profiles: [ProfileCost] = []
        for d in devices {
            try check()
            _ = try Calibrator.session(client, endpoint, d.spoken, uuid: d.entry.uuid, firmware: d.entry.firmware, timeout: options.timeout)
            var hellos: [Double] = []
            let kind = ["kind": d.lookup == .scan ? "scan" : "indexed"]
            let m0 = scrape()
            for _ in 0..<max(1, options.samples) {
                try check()
                let s = try Calibrator.session(client, endpoint, d.spoken, uuid: d.entry.uuid, firmware: d.entry.firmware, timeout: options.timeout)
                hellos.append(s.hello); rtts.append(s.rtt); beats.append(s.heartbeat)
            }
            let m1 = scrape()
            var databaseS: Double?
            let count = BackendMetricName.databaseQuerySeconds + "_count", sum = BackendMetricName.databaseQuerySeconds + "_sum"
            if let c0 = total(m0, count, kind), let c1 = total(m1, count, kind), c1 > c0,
               let s0 = total(m0, sum, kind), let s1 = total(m1, sum, kind) {
                let pad = (total(m1, BackendMetricName.databasePaddingSecondsTotal, kind) ?? 0)
                    - (total(m0, BackendMetricName.databasePaddingSecondsTotal, kind) ?? 0)
                databaseS = max(0, (s1 - s0) + pad) / (c1 - c0)
            }
            profiles.append(ProfileCost(profile: d.profile, lookup: d.lookup, group: d.group,
                                        handshakeS: Statistics.median(hellos), samples: hellos.count, databaseS: databaseS))
        }
        let rtt = Statistics.median(rtts)
        for i in profiles.indices { profiles[i].handshakeS = max(0, profiles[i].handshakeS - rtt) }

        // 2. Idle connections (memory per connection) and their heartbeats (the flush's cost).
        let before = scrape()
        let indexed = devices.first { $0.lookup == .indexed } ?? devices[0]
        let held = try hold(options.idleConnections, client: client, endpoint: endpoint, plan: plan, like: indexed.entry,
                            spoken: indexed.spoken, timeout: options.timeout, shouldStop: shouldStop)
        usleep(300_000)
        let open = scrape()
        for (k, c) in held.enumerated() { c.connection.send(text: indexed.spoken.heartbeatText(uuid: c.uuid, firmware: indexed.entry.firmware, seq: UInt32(k % 7 + 1))) }
        // Two flush intervals of the reference backend (1 s each by default).
        usleep(2_500_000)
        let flushed = scrape()
        for c in held { c.connection.close() }
        let memoryName = BackendMetricName.memoryAnonymousBytes
        var memoryPerConnection: Double?
        if let a = before?.sum(memoryName), let b = open?.sum(memoryName), !held.isEmpty {
            memoryPerConnection = max(0, (b - a) / Double(held.count))
        }
        // Per process: the model's gateway is one backend process.
        let processes = Double(max(1, metrics.count))
        let memoryBase = before?.sum(memoryName).map { $0 / processes }
        var heartbeatS = max(0, Statistics.median(beats) - rtt)
        var heartbeatSource = "heartbeat → ack over the round trip (no metrics: the database work may be after the ack)"
        let touch = ["kind": "touch"]
        if let w0 = total(open, "fleetsim_backend_last_seen_written_total", [:]),
           let w1 = total(flushed, "fleetsim_backend_last_seen_written_total", [:]), w1 > w0,
           let s0 = total(open, BackendMetricName.databaseQuerySeconds + "_sum", touch),
           let s1 = total(flushed, BackendMetricName.databaseQuerySeconds + "_sum", touch) {
            let pad = (total(flushed, BackendMetricName.databasePaddingSecondsTotal, touch) ?? 0)
                - (total(open, BackendMetricName.databasePaddingSecondsTotal, touch) ?? 0)
            heartbeatS = max(0, (s1 - s0) + pad) / (w1 - w0)
            heartbeatSource = "the last_seen flushes: \(Int(w1 - w0)) updates from \(held.count) connections, query time and padding ÷ updates"
        }

        // 3. Under load: the scanning profile (else the first) from many connections at once.
        try check()
        let loaded = devices.first { $0.lookup == .scan } ?? devices[0]
        let q0 = scrape()
        let load = try hammer(seconds: options.loadSeconds, concurrency: options.loadConcurrency, client: client, endpoint: endpoint,
                              entry: loaded.entry, spoken: loaded.spoken, sample: scrape, shouldStop: shouldStop)
        let q1 = load.last
        let kind = ["kind": loaded.lookup == .scan ? "scan" : "indexed"]
        var queriesPerS: Double?
        if let c0 = total(q0, BackendMetricName.databaseQuerySeconds + "_count", kind),
           let c1 = total(q1, BackendMetricName.databaseQuerySeconds + "_count", kind), load.seconds > 0 {
            queriesPerS = (c1 - c0) / load.seconds
        }
        // Memory against pending handshakes: the slope over the load's samples, of what the memory
        // guard compares with its limit (real memory, plus a reference backend's stated pending memory).
        var memoryPerPending: Double?
        let points = load.samples.compactMap { t -> (Double, Double)? in
            guard let p = t.sum(BackendMetricName.handshakesPending), let m = t.sum(memoryName) else { return nil }
            return (p, m + (t.sum(BackendMetricName.pendingMemoryBytes) ?? 0))
        }
        if points.count >= 3, let lo = points.min(by: { $0.0 < $1.0 }), let hi = points.max(by: { $0.0 < $1.0 }), hi.0 - lo.0 >= 8 {
            memoryPerPending = max(0, (hi.1 - lo.1) / (hi.0 - lo.0))
        }
        let busy = load.samples.compactMap { $0.sum(BackendMetricName.databaseBusyFraction) }.max()
        let rows = total(flushed ?? open, BackendMetricName.databaseRows, [:]).map { Int($0) }
        let workers = total(flushed ?? open, BackendMetricName.databaseWorkers, [:]).map { Int($0) }
        return Result(target: url, measuredAt: Date(), timeScale: timeScale, roundTripS: rtt, profiles: profiles,
                      heartbeatS: heartbeatS, heartbeatSource: heartbeatSource, rows: rows, workers: workers,
                      memoryBase: memoryBase, memoryPerConnection: memoryPerConnection, connectionsHeld: held.count, memoryPerPending: memoryPerPending,
                      queriesPerS: queriesPerS, loadSeconds: load.seconds, loadBusy: busy,
                      peakPending: points.map { Int($0.0) }.max())
    }

    // MARK: connections

    final class Held: @unchecked Sendable {  // immutable after init
        let connection: WSConnection
        let uuid: DeviceUUID
        init(connection: WSConnection, uuid: DeviceUUID) { self.connection = connection; self.uuid = uuid }
    }

    /// Opens `count` connections that say hello (each its own new device, registered by the
    /// backend), waits for every welcome, and keeps them open.
    static func hold(_ count: Int, client: WSClient, endpoint: WSEndpoint, plan: FleetPlan, like entry: DeviceRoster.Entry,
                     spoken: DeviceProtocol, timeout: Double, shouldStop: () -> Bool) throws -> [Held] {
        var out: [Held] = []
        var probes: [Calibrator.Probe] = []
        for k in 0..<count {
            if shouldStop() { break }
            let probe = Calibrator.Probe()
            let uuid = DeviceUUID(seed: plan.seed ^ 0xCA11_B4A7E, index: UInt64(k))
            let c = client.connect(to: endpoint, delegate: probe)
            guard probe.events.wait(timeout: .now() + timeout) == .success, probe.failure == nil else {
                throw Failure(description: "\(endpoint.host):\(endpoint.port): connection \(k + 1) of \(count) failed: \(probe.failure ?? "timed out")")
            }
            c.send(text: spoken.helloText(uuid: uuid, firmware: entry.firmware))
            out.append(Held(connection: c, uuid: uuid))
            probes.append(probe)
        }
        for (k, p) in probes.enumerated() {
            guard p.events.wait(timeout: .now() + timeout) == .success, p.failure == nil else {
                for h in out { h.connection.close() }
                throw Failure(description: "\(endpoint.host):\(endpoint.port): no welcome on held connection \(k + 1): \(p.failure ?? "timed out")")
            }
        }
        return out
    }

    /// `concurrency` workers, each connecting, saying hello, waiting for the answer and closing,
    /// again and again for `seconds`; the backend's metrics sampled every 250 ms.
    static func hammer(seconds: Double, concurrency: Int, client: WSClient, endpoint: WSEndpoint, entry: DeviceRoster.Entry,
                       spoken: DeviceProtocol, sample: () -> PrometheusText?, shouldStop: @escaping @Sendable () -> Bool)
        throws -> (seconds: Double, samples: [PrometheusText], last: PrometheusText?) {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        let group = DispatchGroup()
        for _ in 0..<max(1, concurrency) {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while DispatchTime.now().uptimeNanoseconds < deadline && !shouldStop() {
                    let probe = Calibrator.Probe()
                    let c = client.connect(to: endpoint, delegate: probe)
                    if probe.events.wait(timeout: .now() + 5) == .success, probe.failure == nil {
                        c.send(text: spoken.helloText(uuid: entry.uuid, firmware: entry.firmware))
                        _ = probe.events.wait(timeout: .now() + 5)
                    }
                    c.close()
                    _ = probe.closed.wait(timeout: .now() + 2)
                }
            }
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var samples: [PrometheusText] = []
        while DispatchTime.now().uptimeNanoseconds < deadline && !shouldStop() {
            usleep(250_000)
            if let t = sample() { samples.append(t) }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let last = samples.last
        group.wait()
        return (elapsed, samples, last)
    }
}
