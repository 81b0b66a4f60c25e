import DeviceModel
import Foundation
import LoadReport
import Logging
import NIOCore
import NIOPosix
import WSClient

/// `fleetsim run`: the scenario's fleet as real WebSocket devices on the real clock, against a
/// real backend (the user's `target`, or the embedded reference backend), recorded into the
/// same report as a simulation.
///
/// The second driver of `DeviceMachine` (DESIGN.md, "The live runner"): devices are partitioned
/// over event loops (`LoopDriver`), which count their devices' events; every interval the
/// coordinator (this type, on the calling thread) scrapes the backend's metrics once, takes the
/// loops' counts into the run's one recorder, closes the interval there (the milestones come
/// from that one place, whatever the loop count), appends the interval to `series.jsonl`, and
/// checks `abort_on_fail` thresholds.
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
        /// Told what the run's database is (its stated and real costs) before the devices start,
        /// and any query kind slower than stated: lines for the operator's terminal.
        public var notice: (@Sendable (String) -> Void)?
        /// `HOST:PORT` to serve the run's own metrics on while it runs (`MetricsEndpoint`).
        public var metricsListen: String?
        /// What this process does of the run (`Role`).
        public var role: Role = .whole
        /// Local source addresses for the devices' connections (`WSConfiguration.sourceAddresses`).
        public var sourceAddresses: [String] = []
        /// Called once the target is known (its device URL) and reachable, before the clock starts:
        /// returns the run's common start (`NIODeadline.uptimeNanoseconds`, shared by every process
        /// on the machine), nil: now. Local shards wait there for their parent's start; the parent
        /// starts them there (`LocalShards`). Throwing ends the run before it started.
        public var startClock: (@Sendable (String) throws -> UInt64?)?
        /// Polled with `shouldStop`: true stops the run as Ctrl-C does (a local shard whose parent
        /// is gone; a parent whose shard died or whose fleet failed an `abort_on_fail` threshold).
        public var stopRequested: (@Sendable () -> Bool)?

        public init(folder: String) { self.folder = folder }
    }

    /// What the run looks like now, for a progress display (called once a second).
    public struct Status: Sendable {
        public var scenarioS: Double
        public var wallS: Double
        public var durationS: Double
        public var online = 0, connecting = 0, backingOff = 0, gaveUp = 0, notJoined = 0
        public var connectsPerS = 0.0, disconnectsPerS = 0.0
        /// Connects and disconnects since the start.
        public var connects = 0, disconnects = 0
        public var handshakeP99Ms: Double?
        public var dbUtilization: Double?
        public var dbWaitS: Double?
        public var backendMemoryBytes: Int64?
        public var backendCrashes = 0
        public var scrapeFailures = 0
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    /// The part of a run one process carries out. Local shards (`fleetsim run --processes N`)
    /// split a run in two: one parent that holds the backend's side, and N shards that hold the
    /// devices, all on one clock; `ReportMerge.merge(_:backend:)` joins their reports.
    public enum Role: Sendable {
        /// Devices and backend side: a run in one process (or a `--shard` of a Kubernetes Job).
        case whole
        /// The backend's side only, no devices: the embedded backend (or the hooks against the
        /// target), its samples once per interval, the timeline's backend effects and milestones.
        case backend
        /// The devices only, against the parent's backend: no admin calls, hooks or scrapes; the
        /// timeline's effects on its own devices, and milestones only for what they counted.
        case devices
    }

    public let scenario: Scenario
    public let options: Options
    public let plan: FleetPlan
    /// Operators' messages: the backend's start, timeline actions applied, scrape failures, hook
    /// outcomes. Never a header value or a token.
    public let logger: Logger
    var backend: EmbeddedBackend?
    private var scrapeFailures = 0
    private var lastCrashes: Double = 0
    private var lastSample = Recorder.BackendSample()
    /// The last successful scrape of each `observe` endpoint: the report's `database` section.
    var lastScraped: [String: PrometheusText] = [:]
    var hookRunner: HookRunner?
    /// What the timeline's actions mean, and which fault is in force: the simulation's interpreter.
    var interpreter: TimelineInterpreter
    /// Milestones recorded off the coordinator's thread (hook outcomes) or between intervals,
    /// for the run's recorder.
    let inbox = MilestoneInbox()

    /// `plan`: the scenario's fleet plan for `options.shard`, when the caller has built it already.
    public init(scenario: Scenario, options: Options, plan: FleetPlan? = nil, logger: Logger = Logger(label: "fleetsim.live")) {
        self.scenario = scenario
        self.options = options
        self.logger = logger
        self.plan = plan ?? FleetPlan(scenario: scenario, shard: options.shard)
        interpreter = TimelineInterpreter(scenario: scenario, plan: self.plan)
    }

    /// Timeline actions a run cannot apply: none with the embedded backend (its admin API applies
    /// every backend action and fault); against another target, the backend's actions and faults
    /// that have no hook (`hooks:`). What the devices carry out themselves (`add-devices`,
    /// `drop-sessions`, `dns-failure`, `remove-devices`) always applies.
    public static func unsupportedActions(_ scenario: Scenario, target: String?) -> [(index: Int, action: String)] {
        scenario.timeline.enumerated().compactMap { i, e in
            guard let name = e.action.hookName else { return nil }
            return target == nil || scenario.live.hooks[name] != nil ? nil : (i, name)
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
        var info = Recorder.RunInfo(mode: "live", scenario: scenario.name, seed: scenario.seed, clockStart: scenario.clockStart,
                                    devices: plan.shardDeviceCount,
                                    thresholds: scenario.thresholds.map { ($0.metric, $0.expression) })
        if plan.shard.count > 1 { info.shard = plan.shard.description }
        if options.role == .backend { info.devices = 0 }
        var observe = options.role == .devices ? [] : options.observe
        let url: String
        if let target = options.target {
            url = target
            if options.role != .devices {
                do { hookRunner = try HookRunner(hooks: scenario.live.hooks, logger: logger) } catch { throw Failure(description: "\(error)") }
            }
        } else {
            guard options.role != .devices else { throw Failure(description: "a local shard needs its parent's target") }
            let b = try EmbeddedBackend.start(executable: options.executable, scenario: scenario, plan: plan,
                                              timeScale: options.timeScale, folder: options.folder, logLevel: logger.logLevel)
            backend = b
            logger.info("embedded backend started", metadata: ["url": "\(b.endpoints.deviceURL)",
                                                               "processes": "\(b.endpoints.processes.count)"])
            url = b.endpoints.deviceURL
            if observe.isEmpty { observe = b.endpoints.processes.map { $0.controlURL + "/metrics" } }
        }
        defer { backend?.stop() }

        var configuration = WSConfiguration()
        configuration.headers = options.headers
        configuration.sourceAddresses = options.sourceAddresses
        // The device's own deadlines (connect, handshake) decide; WSClient's are a backstop.
        let connectTimeout = plan.groups.map(\.behaviour.connectTimeout).max() ?? 10 * Time.second
        configuration.connectTimeout = .nanoseconds(max(Time.second, Int64(Double(connectTimeout) / options.timeScale)) * 2)
        let handshakeTimeout = plan.groups.map(\.behaviour.handshakeTimeout).max() ?? 10 * Time.second
        configuration.upgradeTimeout = .nanoseconds(max(Time.second, Int64(Double(handshakeTimeout) / options.timeScale)) * 2)
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

        // The run's one recorder: the loops' counts arrive at every interval boundary.
        var recorder = Recorder(interval: scenario.interval, groups: plan.groups.count)
        recorder.keepsIntervalHistograms = true   // shard reports merge their interval percentiles exactly
        if let problem = Self.probe(endpoint) {
            var report = recorder.report(info, durationS: 0, wallS: Date().timeIntervalSince(wallStart))
            report.incomplete = "target \(url) unreachable: \(problem)"
            return report
        }

        let protocols = plan.groups.map { g in scenario.profiles[g.profile]?.protocolSpec ?? .default }
        let start: NIODeadline
        do { start = try options.startClock?(url).map { NIODeadline.uptimeNanoseconds($0) } ?? .now() } catch {
            throw Failure(description: "\(error)")
        }
        let clock = LiveClock(start: start, timeScale: options.timeScale)
        var partitions = Array(repeating: [Int](), count: max(1, options.eventLoops))
        if options.role != .backend {
            for (k, d) in plan.shardDevices.enumerated() { partitions[k % partitions.count].append(d) }
        }
        let loops = (0..<partitions.count).map { _ in group.next() }
        let plan = self.plan, interval = scenario.interval
        let drivers = try zip(loops, partitions).map { loop, devices in
            try loop.submit {
                LoopDriver(loop: loop, plan: plan, devices: devices, client: client, endpoint: endpoint, clock: clock,
                           protocols: protocols, interval: interval)
            }.wait()
        }
        var metrics: MetricsEndpoint?
        if let listen = options.metricsListen {
            let m = try MetricsEndpoint(listen: listen)
            metrics = m
            options.notice?("metrics: http://\(m.address)/metrics (Prometheus text, label shard=\"\(plan.shard)\")")
        }
        defer { metrics?.stop() }
        // Before the devices start: what the database is, what it costs here, what it states.
        if !observe.isEmpty { _ = scrape(observe, at: 0); announceDatabase() }
        for d in drivers { try d.loop.submit { d.start() }.wait() }

        let series = try SeriesLog(path: options.folder + "/series.jsonl", info: info, intervalS: Time.seconds(scenario.interval))
        let timeline = scenario.timeline.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
        var nextEvent = 0
        /// Fault ends due, by time (then start order): a fault's `for` on the scenario clock.
        var ends: [(at: Nanoseconds, index: Int)] = []
        var nextInterval = 1
        var merged = recorder.report(info, durationS: 0)
        var incomplete: String?
        var lastStatus = Date.distantPast
        var lastCounts = (connects: 0, disconnects: 0, at: Date())

        /// The loops' counts since the last boundary, and the milestones waiting, into the recorder.
        /// Losses within half a second of wall time of each other are one mass disconnect.
        let lossWindow = max(Time.second, Nanoseconds(0.5 * Double(Time.second) * options.timeScale))
        func collect(at t: Nanoseconds, final: Bool = false) throws {
            recorder.absorb(try drivers.map { d in try d.loop.submit { d.handOver(at: t) }.wait() },
                            at: t, window: lossWindow, final: final)
            inbox.drain(into: &recorder)
        }
        func report(durationS: Double) throws -> Report {
            var r = recorder.report(info, durationS: durationS, wallS: Date().timeIntervalSince(wallStart))
            try causes().fill(&r.summary)
            return r
        }
        /// The loops' lost sessions and failed connects by cause, since the run began.
        func causes() throws -> CauseCounts {
            try drivers.reduce(into: CauseCounts()) { sum, d in sum.add(try d.loop.submit { d.causes }.wait()) }
        }

        runLoop: while true {
            let now = clock.now()
            // Timeline events and fault ends due, in time order; at the same time a start comes
            // before an end, as in the simulation's queue.
            while true {
                let startAt = nextEvent < timeline.count ? timeline[nextEvent].element.at : .max
                let endAt = ends.first?.at ?? .max
                guard min(startAt, endAt) <= now, min(startAt, endAt) <= scenario.duration else { break }
                if startAt <= endAt {
                    let (index, event) = timeline[nextEvent]
                    nextEvent += 1
                    apply(index, at: event.at, drivers: drivers)
                    if let duration = event.action.faultDuration {
                        let end = (at: event.at + duration, index: index)
                        ends.insert(end, at: ends.firstIndex { $0.at > end.at } ?? ends.endIndex)
                    }
                } else {
                    let end = ends.removeFirst()
                    endFault(end.index, at: end.at, drivers: drivers)
                }
            }
            // Interval boundaries.
            let boundary = min(scenario.duration, Nanoseconds(nextInterval) * scenario.interval)
            if now >= boundary {
                let sample = scrape(observe, at: boundary)
                try collect(at: boundary)
                recorder.memory(sample.memoryBytes)
                recorder.closeInterval(at: boundary, backend: sample)
                merged = try report(durationS: Time.seconds(boundary))
                series.append(merged)
                nextInterval += 1
                if onInterval?(merged) == true { incomplete = nil; break runLoop }
                if boundary >= scenario.duration { break runLoop }
            }
            if shouldStop() || options.stopRequested?() == true {
                incomplete = "interrupted at t=\(Int(Time.seconds(now)))s of scenario time"
                break
            }
            if status != nil || metrics != nil, Date().timeIntervalSince(lastStatus) >= 1 {
                lastStatus = Date()
                var s = Status(scenarioS: Time.seconds(now), wallS: Date().timeIntervalSince(wallStart),
                               durationS: Time.seconds(scenario.duration))
                var census = Census()
                // The totals so far: the last interval's report, and what the loops counted since.
                var counters = Recorder.Counters()
                let summary = merged.summary
                counters.connectAttempts = summary.connectAttempts; counters.connects = summary.connects
                counters.disconnects = summary.disconnects; counters.rejects = summary.rejects
                counters.handshakeTimeouts = summary.handshakeTimeouts; counters.ackTimeouts = summary.ackTimeouts
                var causes = CauseCounts()
                var handshakes = metrics == nil ? LatencyRecorder() : recorder.allHandshakes
                for d in drivers {
                    let wantsMore = metrics != nil
                    let (c, counts, loopCauses, loopHandshakes) = try d.loop.submit {
                        (d.census(), d.recorder.currentCounters, wantsMore ? d.causes : CauseCounts(),
                         wantsMore ? d.recorder.handshakesSinceHandOver : nil)
                    }.wait()
                    census.add(c)
                    counters.add(counts)
                    causes.add(loopCauses)
                    if let loopHandshakes { handshakes.add(loopHandshakes) }
                }
                if let metrics {
                    metrics.update(MetricsEndpoint.Snapshot(
                        shard: plan.shard.description, scenario: scenario.name, scenarioS: Time.seconds(now),
                        census: (census.online, census.connecting, census.backingOff, census.gaveUp, census.notJoined),
                        counters: counters, causes: causes, handshakes: handshakes))
                }
                let totalConnects = counters.connects, totalDisconnects = counters.disconnects
                let dt = max(0.001, Date().timeIntervalSince(lastCounts.at))
                s.connectsPerS = Double(max(0, totalConnects - lastCounts.connects)) / dt
                s.disconnectsPerS = Double(max(0, totalDisconnects - lastCounts.disconnects)) / dt
                lastCounts = (totalConnects, totalDisconnects, Date())
                (s.connects, s.disconnects) = (totalConnects, totalDisconnects)
                s.online = census.online; s.connecting = census.connecting; s.backingOff = census.backingOff
                s.gaveUp = census.gaveUp; s.notJoined = census.notJoined
                s.handshakeP99Ms = merged.series.handshakeP99Ms.last ?? nil
                s.dbUtilization = lastSample.dbUtilization
                s.dbWaitS = lastSample.dbWaitS
                s.backendMemoryBytes = lastSample.memoryBytes
                s.backendCrashes = merged.summary.backendCrashes
                s.scrapeFailures = scrapeFailures
                status?(s)
            }
            usleep(20_000)
        }

        // Against another target, a fault still in force when the run stops ends with it (its end
        // hook runs), so that the backend is not left failing; the embedded backend just stops.
        if backend == nil {
            let stoppedAt = min(clock.now(), scenario.duration)
            for end in ends { endFault(end.index, at: stoppedAt, drivers: drivers) }
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
        // The counts of the interval still open go in the totals, not in the series.
        try collect(at: covered, final: true)
        var final = try report(durationS: Time.seconds(max(covered, Nanoseconds(nextInterval - 1) * scenario.interval)))
        final.incomplete = incomplete
        if !observe.isEmpty { _ = scrape(observe, at: covered) }
        final.database = databaseCosts()
        if scrapeFailures > 0 {
            final.milestones.append(Report.Milestone(tS: Time.seconds(covered), kind: .timeline,
                                                     detail: "\(scrapeFailures) metrics scrapes failed"))
        }
        series.close()
        return final
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

    // MARK: Backend sample

    /// Scrapes every `observe` endpoint; a failed scrape is counted, never fatal.
    private func scrape(_ urls: [String], at t: Nanoseconds) -> Recorder.BackendSample {
        guard !urls.isEmpty else { return Recorder.BackendSample() }
        var busy = 0.0, busyN = 0, wait = 0.0, memory = 0.0, pending = 0.0, crashes = 0.0, got = 0
        for url in urls {
            do {
                let r = try HTTPRequest.send("GET", url, timeout: 2)
                guard r.status == 200 else { scrapeFailed(url, "HTTP \(r.status)"); continue }
                let m = try PrometheusText(parsing: r.body)
                lastScraped[url] = m
                got += 1
                if let b = m.sum(BackendMetricName.databaseBusyFraction) { busy += b; busyN += 1 }
                wait = max(wait, m.max(BackendMetricName.databaseWaitSeconds) ?? 0)
                // What the memory guard compares with its limit: real memory plus the stated pending memory.
                memory += (m.sum(BackendMetricName.memoryAnonymousBytes) ?? 0) + (m.sum(BackendMetricName.pendingMemoryBytes) ?? 0)
                pending += m.sum(BackendMetricName.handshakesPending) ?? 0
                crashes += m.sum(BackendMetricName.crashesTotal) ?? 0
            } catch {
                scrapeFailed(url, "\(error)")
            }
        }
        if got == 0 { return lastSample }
        if crashes > lastCrashes {
            let n = Int(crashes - lastCrashes)
            let text = "\(n) backend process\(n == 1 ? "" : "es") crashed (memory guard)"
            logger.notice("\(text)", metadata: ["t": "\(ScenarioClock.offset(Time.seconds(t)))"])
            inbox.crash(at: t, text)
            lastCrashes = crashes
        }
        lastSample = Recorder.BackendSample(dbUtilization: busyN == 0 ? 0 : min(1, busy / Double(busyN)), dbWaitS: wait,
                                            pendingHandshakes: Int(pending), memoryBytes: Int64(memory))
        return lastSample
    }

    /// Counts a failed scrape; the first is a warning, later ones debug messages (the count is in
    /// the status display and the report).
    private func scrapeFailed(_ url: String, _ why: String) {
        scrapeFailures += 1
        logger.log(level: scrapeFailures == 1 ? .warning : .debug, "metrics scrape failed (counted, not fatal)",
                   metadata: ["url": "\(url)", "error": "\(why)", "failures": "\(scrapeFailures)"])
    }

}
