import DeviceModel
import Foundation
import LoadReport
import NIOCore
import NIOPosix
import WSClient

/// `fleetsim run`: the scenario's fleet as real WebSocket devices on the real clock, against a
/// real backend (the user's `target`, or the embedded reference backend), recorded into the
/// same report as a simulation.
///
/// The second driver of `DeviceMachine` (DESIGN.md, "The live runner"): devices are partitioned
/// over event loops (`LoopDriver`), each with its own recorder; every interval the coordinator
/// (this type, on the calling thread) scrapes the backend's metrics, closes the interval on every
/// loop, merges the loops' reports with the shard-merge rules, appends the interval to
/// `series.jsonl`, and checks `abort_on_fail` thresholds.
public final class LiveRunner {
    public struct Options: Sendable {
        /// ws:// or wss:// URL of the device endpoint; nil: start the embedded backend.
        public var target: String?
        public var timeScale: Double = 1
        public var shard: FleetPlan.Shard = .whole
        public var eventLoops = 1
        /// The `fleetsim` executable, to start the embedded backend with.
        public var executable: String = CommandLine.arguments[0]
        /// Where the report, `series.jsonl` and the backend's log go.
        public var folder: String
        /// Prometheus endpoints to scrape every interval (default: every embedded backend process).
        public var observe: [String] = []
        /// Extra upgrade headers (values already read from the environment; never logged).
        public var headers: [(name: String, value: String)] = []

        public init(folder: String) { self.folder = folder }
    }

    /// What the run looks like now, for a progress display (called once a second).
    public struct Status: Sendable {
        public var scenarioS: Double
        public var wallS: Double
        public var durationS: Double
        public var online = 0, connecting = 0, backingOff = 0, gaveUp = 0, notJoined = 0
        public var connectsPerS = 0.0, disconnectsPerS = 0.0
        public var handshakeP99Ms: Double?
        public var dbUtilization: Double?
        public var dbWaitS: Double?
        public var backendMemoryBytes: Int64?
        public var backendCrashes = 0
        public var scrapeFailures = 0
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public let scenario: Scenario
    public let options: Options
    public let plan: FleetPlan
    private var backend: EmbeddedBackend?
    private var scrapeFailures = 0
    private var lastCrashes: Double = 0
    private var lastSample = Recorder.BackendSample()
    private var hookRunner: HookRunner?

    public init(scenario: Scenario, options: Options) {
        self.scenario = scenario
        self.options = options
        self.plan = FleetPlan(scenario: scenario, shard: options.shard)
    }

    /// Timeline actions a run cannot apply: with the embedded backend, only the faults (`outage`,
    /// `fail-gateway`, `http-errors`, `latency`, `db-errors`, `dns-failure`, `remove-devices`,
    /// `feature-failure`: simulated only, for now); against another target, also the backend's
    /// actions that have no hook (`hooks:`). The device-side ones (`add-devices`,
    /// `drop-sessions`) always apply.
    public static func unsupportedActions(_ scenario: Scenario, target: String?) -> [(index: Int, action: String)] {
        scenario.timeline.enumerated().compactMap { i, e in
            switch e.action {
            case .addDevices, .dropSessions: return nil
            case .block, .unblock, .restartGateways, .setDatabaseCores, .setAdmission:
                return target == nil || scenario.live.hooks[e.action.name] != nil ? nil : (i, e.action.name)
            case .outage, .failGateway, .httpErrors, .latency, .dbErrors, .dnsFailure, .removeDevices, .featureFailure:
                return (i, e.action.name)
            }
        }
    }

    /// The first hook whose bearer-token variable is not set in the environment, as an error text.
    public static func missingHookToken(_ scenario: Scenario, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        do { _ = try HookRunner(hooks: scenario.live.hooks, environment: environment); return nil } catch { return "\(error)" }
    }

    /// Runs the scenario; returns its report (`incomplete` set when it could not complete).
    /// `shouldStop` is polled every 100 ms; `status` is called about once a second;
    /// `interval` after each interval with the merged report so far (return true to stop: an
    /// `abort_on_fail` threshold failed).
    public func run(shouldStop: @escaping () -> Bool, status: ((Status) -> Void)? = nil,
                    interval onInterval: ((Report) -> Bool)? = nil) throws -> Report {
        let wallStart = Date()
        let info = Recorder.RunInfo(mode: "live", scenario: scenario.name, seed: scenario.seed, clockStart: scenario.clockStart,
                                    devices: plan.shardDeviceCount,
                                    thresholds: scenario.thresholds.map { ($0.metric, $0.expression) })
        var observe = options.observe
        let url: String
        if let target = options.target {
            url = target
            do { hookRunner = try HookRunner(hooks: scenario.live.hooks) } catch { throw Failure(description: "\(error)") }
        } else {
            let b = try EmbeddedBackend.start(executable: options.executable, scenario: scenario, plan: plan,
                                              timeScale: options.timeScale, folder: options.folder)
            backend = b
            url = b.endpoints.deviceURL
            if observe.isEmpty { observe = b.endpoints.processes.map { $0.controlURL + "/metrics" } }
        }
        defer { backend?.stop() }

        var configuration = WSConfiguration()
        configuration.headers = options.headers
        // The device's own deadlines (connect, handshake) decide; WSClient's are a backstop.
        let connectTimeout = plan.groups.map(\.behaviour.connectTimeout).max() ?? 10 * Time.second
        configuration.connectTimeout = .nanoseconds(max(Time.second, Int64(Double(connectTimeout) / options.timeScale)) * 2)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.eventLoops))
        defer { try? group.syncShutdownGracefully() }
        let client: WSClient
        let endpoint: WSEndpoint
        do {
            client = try WSClient(configuration: configuration, eventLoopGroup: group)
            endpoint = try client.resolve(try WSEndpoint(url: url)).wait()
        } catch {
            throw Failure(description: "target \(url): \(error)")
        }

        let empty = Recorder(interval: scenario.interval, groups: plan.groups.count)
        if let problem = Self.probe(endpoint) {
            var report = empty.report(info, durationS: 0, wallS: Date().timeIntervalSince(wallStart))
            report.incomplete = "target \(url) unreachable: \(problem)"
            return report
        }

        let protocols = plan.groups.map { g in scenario.profiles[g.profile]?.protocolSpec ?? .default }
        let clock = LiveClock(start: .now(), timeScale: options.timeScale)
        var partitions = Array(repeating: [Int](), count: max(1, options.eventLoops))
        for (k, d) in plan.shardDevices.enumerated() { partitions[k % partitions.count].append(d) }
        let loops = (0..<partitions.count).map { _ in group.next() }
        let drivers = try zip(loops, partitions).map { loop, devices in
            try loop.submit {
                LoopDriver(loop: loop, plan: self.plan, devices: devices, client: client, endpoint: endpoint, clock: clock,
                           protocols: protocols, interval: self.scenario.interval)
            }.wait()
        }
        for d in drivers { try d.loop.submit { d.start() }.wait() }

        let series = try SeriesLog(path: options.folder + "/series.jsonl", info: info, intervalS: Time.seconds(scenario.interval))
        let timeline = scenario.timeline.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
        var nextEvent = 0
        var nextInterval = 1
        var merged = empty.report(info, durationS: 0)
        var incomplete: String?
        var lastStatus = Date.distantPast
        var lastCounts = (connects: 0, disconnects: 0, at: Date())

        func mergedReport(durationS: Double) throws -> Report {
            let parts = try drivers.map { d in try d.loop.submit { d.recorder.report(info, durationS: durationS) }.wait() }
            var r = parts.count == 1 ? parts[0] : try ReportMerge.merge(parts)
            r.mode = "live"
            r.summary.wallS = Date().timeIntervalSince(wallStart)
            return r
        }

        runLoop: while true {
            let now = clock.now()
            // Timeline events due.
            while nextEvent < timeline.count, timeline[nextEvent].element.at <= now, timeline[nextEvent].element.at <= scenario.duration {
                let (index, event) = timeline[nextEvent]
                nextEvent += 1
                apply(event, index: index, at: event.at, drivers: drivers)
            }
            // Interval boundaries.
            let boundary = min(scenario.duration, Nanoseconds(nextInterval) * scenario.interval)
            if now >= boundary {
                let sample = scrape(observe, at: boundary, drivers: drivers)
                for d in drivers { try d.loop.submit { d.closeInterval(at: boundary, backend: sample) }.wait() }
                merged = try mergedReport(durationS: Time.seconds(boundary))
                series.append(merged)
                nextInterval += 1
                if onInterval?(merged) == true { incomplete = nil; break runLoop }
                if boundary >= scenario.duration { break runLoop }
            }
            if shouldStop() {
                incomplete = "interrupted at t=\(Int(Time.seconds(now)))s of scenario time"
                break
            }
            if let status, Date().timeIntervalSince(lastStatus) >= 1 {
                lastStatus = Date()
                var s = Status(scenarioS: Time.seconds(now), wallS: Date().timeIntervalSince(wallStart),
                               durationS: Time.seconds(scenario.duration))
                var census = Census()
                var connects = 0, disconnects = 0
                for d in drivers {
                    let (c, counts) = try d.loop.submit { (d.census(), d.recorder.currentCounters) }.wait()
                    census.add(c)
                    connects += counts.connects
                    disconnects += counts.disconnects
                }
                let totalConnects = merged.summary.connects + connects, totalDisconnects = merged.summary.disconnects + disconnects
                let dt = max(0.001, Date().timeIntervalSince(lastCounts.at))
                s.connectsPerS = Double(max(0, totalConnects - lastCounts.connects)) / dt
                s.disconnectsPerS = Double(max(0, totalDisconnects - lastCounts.disconnects)) / dt
                lastCounts = (totalConnects, totalDisconnects, Date())
                s.online = census.online; s.connecting = census.connecting; s.backingOff = census.backingOff
                s.gaveUp = census.gaveUp; s.notJoined = census.notJoined
                s.handshakeP99Ms = merged.series.handshakeP99Ms.last ?? nil
                s.dbUtilization = lastSample.dbUtilization
                s.dbWaitS = lastSample.dbWaitS
                s.backendMemoryBytes = lastSample.memoryBytes
                s.backendCrashes = merged.summary.backendCrashes
                s.scrapeFailures = scrapeFailures
                status(s)
            }
            usleep(20_000)
        }

        // Hooks still running finish (each within its timeout) so that their outcome is recorded.
        hookRunner?.waitForAll()
        // Every device closes (a Close frame), with a bounded wait for the backend's answers.
        for d in drivers { d.loop.execute { d.stopAll() } }
        let closeDeadline = Date().addingTimeInterval(3)
        while Date() < closeDeadline {
            let open = try drivers.reduce(0) { acc, d in acc + (try d.loop.submit { d.openConnections }.wait()) }
            if open <= 0 { break }
            usleep(50_000)
        }
        let covered = min(clock.now(), scenario.duration)
        var report = try mergedReport(durationS: Time.seconds(max(covered, Nanoseconds(nextInterval - 1) * scenario.interval)))
        report.incomplete = incomplete
        if scrapeFailures > 0 {
            report.milestones.append(Report.Milestone(tS: Time.seconds(covered), kind: .timeline,
                                                      detail: "\(scrapeFailures) metrics scrapes failed"))
        }
        series.close()
        return report
    }

    /// One TCP connection to the target, to tell "unreachable" from "refusing devices".
    static func probe(_ endpoint: WSEndpoint) -> String? {
        guard let address = endpoint.address else { return "not resolved" }
        let fd = socket(address.protocol == .inet6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok = address.withSockAddr { sa, len in connect(fd, sa, socklen_t(len)) } == 0
        return ok ? nil : String(cString: strerror(errno))
    }

    // MARK: Timeline

    private func apply(_ event: Scenario.TimelineEvent, index: Int, at t: Nanoseconds, drivers: [LoopDriver]) {
        let prefix = event.note.map { "\($0): " } ?? ""
        let record: @Sendable (String) -> Void = { text in
            for d in drivers { d.loop.execute { d.timeline(at: t, prefix + text) } }
        }
        var detail: String
        // The request to the embedded backend, or the values of the action's hook.
        var adminCalls: [(path: String, body: String, processes: [Int]?)] = []
        var values: [String: String] = ["at": Units.format(duration: t)]
        switch event.action {
        case .addDevices(let group, let count, let ramp):
            detail = "\(count) devices join group \(group)" + (ramp > 0 ? " over \(ReportFormat.duration(ramp))" : "")
        case .block(let range), .unblock(let range):
            let blocking = { if case .block = event.action { return true } else { return false } }()
            detail = "firmware \(range) " + (blocking ? "blocked" : "unblocked")
            adminCalls = [(blocking ? "/admin/block" : "/admin/unblock", range.description, [0])]
            values["firmware"] = range.description
            for (g, group) in plan.groups.enumerated() where range.contains(group.firmware) {
                for d in drivers { d.loop.execute { d.setBlocked(group: g, blocking) } }
            }
        case .restartGateways(let which, let down):
            let wall = Units.format(duration: max(Time.millisecond, Nanoseconds(Double(down) / options.timeScale)))
            detail = (which == nil ? "all gateways" : "gateway \(which!)") + " restarted (down \(ReportFormat.duration(down)))"
            adminCalls = [("/admin/restart", "down=\(wall)", which.map { [$0] })]
            values["gateway"] = which.map(String.init) ?? "all"
            values["down"] = wall
        case .setDatabaseCores(let cores):
            let n = backend.map { max(1, (cores + $0.endpoints.processes.count - 1) / $0.endpoints.processes.count) } ?? cores
            detail = "database capacity set to \(cores) cores"
            adminCalls = [("/admin/db-workers", String(n), nil)]
            values["cores"] = String(cores)
        case .dropSessions(let fraction):
            let counts = drivers.map { d in (try? d.loop.submit { d.dropSessions(fraction: fraction, event: index, now: t) }.wait()) ?? 0 }
            detail = "network drops \(Int((fraction * 100).rounded()))% of sessions (\(counts.reduce(0, +)) devices)"
        case .setAdmission(let a):
            var body = "off"
            if let a {
                var parts: [String] = []
                if let r = a.connectRate { parts.append("rate=\(r * options.timeScale)") }
                if let b = a.burst { parts.append("burst=\(Int(b.rounded(.up)))") }
                if let p = a.maxPending { parts.append("max-pending=\(p)") }
                body = parts.joined(separator: " ")
            }
            detail = a == nil ? "admission control off" : "admission control on"
            adminCalls = [("/admin/admission", body, nil)]
            values["admission"] = body
        case .outage, .failGateway, .httpErrors, .latency, .dbErrors, .dnsFailure, .removeDevices, .featureFailure:
            // Unreachable: `unsupportedActions` refuses fault actions for every target before a
            // run starts. Recorded as a milestone like any other action, with no effect.
            detail = "\(event.action.name) (not applied: simulated only)"
        }
        if let backend {
            var failures: [String] = []
            for call in adminCalls {
                for i in call.processes ?? Array(backend.endpoints.processes.indices) {
                    do { try backend.admin(call.path, body: call.body, process: i) } catch { failures.append("\(error)") }
                }
            }
            record(detail + (failures.isEmpty ? "" : " (failed: \(failures.joined(separator: "; ")))"))
        } else if let name = event.action.hookName, let hooks = hookRunner, hooks.hook(for: name) != nil {
            let text = detail
            hooks.run(name, values: values) { outcome in record(text + " (\(outcome))") }
        } else {
            record(detail)
        }
    }

    // MARK: Backend sample

    /// Scrapes every `observe` endpoint; a failed scrape is counted, never fatal.
    private func scrape(_ urls: [String], at t: Nanoseconds, drivers: [LoopDriver]) -> Recorder.BackendSample {
        guard !urls.isEmpty else { return Recorder.BackendSample() }
        var busy = 0.0, busyN = 0, wait = 0.0, memory = 0.0, pending = 0.0, crashes = 0.0, got = 0
        for url in urls {
            do {
                let r = try HTTPRequest.send("GET", url, timeout: 2)
                guard r.status == 200 else { scrapeFailures += 1; continue }
                let m = try PrometheusText(parsing: r.body)
                got += 1
                if let b = m.sum("fleetsim_backend_db_busy_fraction") { busy += b; busyN += 1 }
                wait = max(wait, m.max("fleetsim_backend_db_wait_seconds") ?? 0)
                memory += m.sum("fleetsim_backend_memory_anonymous_bytes") ?? 0
                pending += m.sum("fleetsim_backend_handshakes_pending") ?? 0
                crashes += m.sum("fleetsim_backend_crashes_total") ?? 0
            } catch {
                scrapeFailures += 1
            }
        }
        if got == 0 { return lastSample }
        if crashes > lastCrashes {
            let n = Int(crashes - lastCrashes)
            let text = "\(n) backend process\(n == 1 ? "" : "es") crashed (memory guard)"
            for d in drivers { d.loop.execute { d.crash(at: t, text) } }
            lastCrashes = crashes
        }
        lastSample = Recorder.BackendSample(dbUtilization: busyN == 0 ? 0 : min(1, busy / Double(busyN)), dbWaitS: wait,
                                            pendingHandshakes: Int(pending), memoryBytes: Int64(memory))
        return lastSample
    }
}
