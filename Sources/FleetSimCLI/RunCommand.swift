import ArgumentParser
import DeviceModel
import FleetSim
import Foundation
import LoadReport
import Logging

/// `fleetsim run`: the scenario live, every device a real WebSocket (wiring only; the runner is
/// `FleetSim.LiveRunner`).
struct RunCommand: AsyncParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a scenario live: every device a real WebSocket, against a real backend.",
        discussion: """
        Without --target (or a scenario `target:`), starts the embedded reference backend as child \
        process(es) on a free loopback port, configured from the scenario's `backend:` and seeded \
        with the fleet's devices, and stops it at the end (also on error and Ctrl-C). Timeline \
        actions reach it through its admin API; against another target only add-devices and \
        drop-sessions can be applied (anything else is an error, exit 2).

        Time: the real clock, with every scenario duration divided by --time-scale (or the \
        scenario's `time_scale:`). Network and database latency are not compressed: a 50 ms scan \
        costs K × 50 ms of scenario time.

        A fleet larger than one process holds (its descriptor limit: every device is a socket) runs \
        as local shards: --processes N child processes, each `--shard i/N` of the fleet from its own \
        loopback source address (127.0.0.2, 127.0.0.3…), against the one backend, which this \
        process holds, all on one clock. By default N is as many as the fleet needs, said before \
        it starts. Progress, series.jsonl, abort_on_fail thresholds and the report are the whole \
        fleet's (each shard also writes its own into shard-i/). A shard that dies is named, the \
        others stop, and the report is incomplete (exit 3).

        Writes series.jsonl as it goes (one line per interval, flushed), then report.json, \
        report.md and report.html. Ctrl-C, SIGTERM or SIGHUP (the terminal closed) closes every device and writes the report of \
        what was measured (exit 3); a second Ctrl-C exits at once with series.jsonl intact \
        (`fleetsim report series.jsonl` rebuilds a report from it); the same signal repeated within \
        half a second, as `timeout` sends it, counts once. Exit codes as `simulate`.

        Examples:
          fleetsim run scenarios/airtame-2020-02-08-live.yaml
          fleetsim run my-fleet.yaml --target ws://127.0.0.1:9001/device --time-scale 10
          fleetsim run scenarios/fleet-60k-live.yaml                       # 60,000 devices: local shards
          fleetsim run my.yaml --shard auto/16 --metrics-listen 0.0.0.0:9464   # a pod of an Indexed Job
        """)

    @Argument(help: "The scenario file (YAML; see scenarios/README.md, \"Live runs\").")
    var scenario: String

    @Option(name: .long, help: ArgumentHelp("Device endpoint (ws:// or wss://); default: the scenario's target, else the embedded backend.", valueName: "url"))
    var target: String?

    @Option(name: .customLong("time-scale"), help: ArgumentHelp("Divide every scenario duration by K in wall time (default: the scenario's time_scale, else 1).", valueName: "K"))
    var timeScale: Double?

    @Option(name: .long, help: ArgumentHelp("Run only devices whose number is ≡ i (mod n), e.g. 0/2; auto/n takes i from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job). Merge the shards' reports with `fleetsim report merge`.", valueName: "i/n"))
    var shard: String?

    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp("Serve the run's own metrics (devices by state, connects, disconnects and failed connects by cause, handshake latency) in Prometheus text format at http://HOST:PORT/metrics while it runs, labelled with the shard.", valueName: "host:port"))
    var metricsListen: String?

    @Option(name: .long, help: ArgumentHelp("Run the fleet as N local shards, child processes against one backend (default: as many as the fleet needs within the descriptor limit; 1: one process).", valueName: "n"))
    var processes: Int?

    @Option(name: .customLong("source-address"), help: ArgumentHelp("Connect from this local address (repeatable: connections take them in turn), e.g. 127.0.0.2 for more loopback ports.", valueName: "ip"))
    var sourceAddresses: [String] = []

    /// A local shard started by `--processes` (LocalShardLink): devices only, the parent's clock.
    @Flag(name: .customLong("local-shard"), help: .hidden)
    var localShard = false

    @Option(name: .customLong("event-loops"), help: ArgumentHelp("Event-loop threads driving the devices (default 1: the other core is the backend's).", valueName: "n"))
    var eventLoops = 1

    @OptionGroup var options: ScenarioOptions

    @OptionGroup var seed: SeedOption

    @OptionGroup var ci: CIOutputs

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let t = timeScale, !(t > 0 && t <= 10_000) { throw ValidationError("--time-scale: expected a number in (0, 10000], got \(t)") }
        if let shard {
            do { _ = try FleetPlan.Shard(argument: shard, environment: ProcessInfo.processInfo.environment) } catch {
                throw ValidationError("--shard: \(error)")
            }
        }
        if let target, !(target.hasPrefix("ws://") || target.hasPrefix("wss://")) {
            throw ValidationError("--target: expected a ws:// or wss:// URL, got \"\(target)\"")
        }
        if let listen = metricsListen {
            let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 2, let port = Int(parts.last!), (0...65535).contains(port), !parts.dropLast().joined(separator: ":").isEmpty else {
                throw ValidationError("--metrics-listen: expected HOST:PORT, like 127.0.0.1:9464, got \"\(listen)\"")
            }
        }
        if let processes {
            guard (1...250).contains(processes) else { throw ValidationError("--processes: expected 1…250, got \(processes)") }
            if processes > 1, shard != nil { throw ValidationError("--processes: a --shard is one process; give one or the other") }
            if processes > 1, metricsListen != nil { throw ValidationError("--processes: --metrics-listen serves one process's metrics; run one process per --shard to scrape each") }
        }
        if localShard, target == nil || shard == nil { throw ValidationError("--local-shard: only for the shards `--processes` starts (needs --target and --shard)") }
        for a in sourceAddresses where !Self.isIPAddress(a) {
            throw ValidationError("--source-address: expected an IP address, got \"\(a)\"")
        }
        guard (1...64).contains(eventLoops) else { throw ValidationError("--event-loops: expected 1…64, got \(eventLoops)") }
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    func run() async throws {
        let s = try options.load(scenario, seed: seed.seed)
        let target = self.target ?? s.live.target
        if !localShard {
            let devices = FleetPlan(scenario: s, shard: .whole).deviceCount
            let perProcess = LocalShards.devicesPerProcess()
            // The embedded backend's gateways are processes too: each holds its connections within
            // the same descriptor limit (one at its limit stops accepting).
            let gateways = max(1, s.backend.gateways.count)
            if target == nil, devices > gateways * perProcess, !ci.quiet {
                FileHandle.standardError.write(Data(("fleetsim run: warning: \(devices) devices on \(gateways) embedded gateway process\(gateways == 1 ? "" : "es"), "
                    + "which hold about \(perProcess) connections each within the descriptor limit: set backend.gateways.count to at least "
                    + "\(LocalShards.processesNeeded(devices: devices, perProcess: perProcess))\n").utf8))
            }
            let needed = LocalShards.processesNeeded(devices: devices, perProcess: perProcess)
            let count = processes ?? (shard == nil && metricsListen == nil ? needed : 1)
            if count > 1 {
                if processes == nil, !ci.quiet {
                    FileHandle.standardError.write(Data(("fleetsim run: \(devices) devices are more than one process holds within its descriptor limit "
                        + "(about \(perProcess)): running \(count) local shards (--processes \(count); --processes 1 for one process)\n").utf8))
                }
                return try await runLocalShards(s, count: count, target: target)
            }
            if devices > perProcess, !ci.quiet {
                FileHandle.standardError.write(Data("fleetsim run: warning: \(devices) devices in one process, which holds about \(perProcess) within its descriptor limit\n".utf8))
            }
        }
        let unsupported = localShard ? [] : LiveRunner.unsupportedActions(s, target: target)
        if let first = unsupported.first {
            throw CLIFailure.input("\(scenario): timeline[\(first.index)]: \(first.action) cannot be applied to target \(target ?? ""): "
                                   + "give it a hook (hooks.\(first.action): {http: \"POST URL\", token_env: VAR} or {shell: COMMAND}); "
                                   + "only add-devices, drop-sessions, dns-failure and remove-devices need none (the devices carry them out)")
        }
        if target != nil, !localShard, let missing = LiveRunner.missingHookToken(s) {
            throw CLIFailure.input("\(scenario): \(missing)")
        }
        var headers: [(name: String, value: String)] = []
        for (name, variable) in s.live.headers {
            guard let value = ProcessInfo.processInfo.environment[variable] else {
                throw CLIFailure.input("\(scenario): target.headers.\(name): environment variable \(variable) is not set")
            }
            headers.append((name, value))
        }
        let folder = try options.folder(for: s.name)
        var o = LiveRunner.Options(folder: folder)
        o.target = target
        o.timeScale = timeScale ?? s.live.timeScale
        o.shard = try shard.map { try FleetPlan.Shard(argument: $0, environment: ProcessInfo.processInfo.environment) } ?? .whole
        o.eventLoops = eventLoops
        o.metricsListen = metricsListen
        o.observe = s.live.observe
        o.headers = headers
        o.sourceAddresses = sourceAddresses
        let link = localShard ? LocalShardLink() : nil
        if let link {
            o.role = .devices
            o.startClock = { _ in try link.waitForStart() }
            o.stopRequested = { link.parentGone }
        }
        o.executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        // The first Ctrl-C or SIGTERM stops the run gracefully (every device closes, the report is
        // written); a second one exits at once, with series.jsonl intact.
        // A local shard also receives its parent's group's signals: it stops once, cleanly, and
        // writes its report, however often the user asks the parent.
        let latch = Signals.stopLatch(second: localShard ? .ignore : .exitAtOnce)
        let display = StatusDisplay(enabled: !ci.quiet, name: s.name)
        o.notice = { display.note($0) }
        // A local shard's fleet is its parent's: the parent judges abort_on_fail on the whole.
        let aborting = localShard ? [] : s.thresholds.filter(\.abortOnFail)
        let progress = RunProgress()
        let service = LiveRunService(scenario: s, options: o, logger: Logger(label: "fleetsim.live"), status: { link?.report($0); display.show($0) }, interval: { r in
            if !display.isTTY { display.line(r) }
            guard !aborting.isEmpty else { return false }
            var copy = r
            try? copy.evaluateThresholds()
            if let failed = copy.thresholds.first(where: { t in t.ok == false && aborting.contains { $0.metric == t.metric && $0.expression == t.expression } }) {
                progress.aborted = "\(failed.metric): \(failed.expression) failed at t=\(Int(r.summary.durationS))s (abort_on_fail)"
                return true
            }
            return false
        })
        if !ci.quiet {
            display.note("running \(s.name) live: \(service.plan.shardDeviceCount) devices"
                         + (o.shard.count > 1 ? " (shard \(o.shard))" : "")
                         + " against \(target ?? "the embedded backend"), \(ReportFormat.duration(s.duration)) of scenario time"
                         + (o.timeScale != 1 ? " at ×\(o.timeScale) (\(ReportFormat.duration(LiveClock.wall(s.duration, timeScale: o.timeScale))) of wall time)" : ""))
        }
        try await Lifecycle.run([service], until: latch, logger: Logger(label: "fleetsim.lifecycle"))
        var report: Report
        switch service.result {
        case .success(let r)?: report = r
        case .failure(let error)?: throw CLIFailure(message: "fleetsim run: \(error)", code: 3)
        case nil: throw CLIFailure(message: "fleetsim run: stopped before the run started", code: 3)
        }
        try ci.publish(&report, scenario: scenario, folder: folder)
        if let aborted = progress.aborted { throw CLIFailure(message: "fleetsim run: stopped: \(aborted); report written to \(folder)", code: 1) }
        if let why = report.incomplete { throw CLIFailure(message: "fleetsim run: \(why); report written to \(folder)", code: 3) }
        try exitWithVerdict(report, what: scenario)
    }
}

/// What the run's interval callback decided (on the run's thread), read once the run is over.
private final class RunProgress: @unchecked Sendable {  // written on the run's thread only, read after it ended
    var aborted: String?
}

/// The live run's progress on standard error: a status block redrawn every second on a
/// terminal, a plain line per interval otherwise.
final class StatusDisplay: @unchecked Sendable {  // used from the run's thread only (its callbacks), after `note`
    private let out: ProgressOutput
    private let name: String
    private var drawnLines = 0

    init(enabled: Bool, name: String) {
        out = ProgressOutput(enabled: enabled)
        self.name = name
    }

    var isTTY: Bool { out.isTTY }

    func note(_ text: String) { out.note(text) }

    func show(_ s: LiveRunner.Status) {
        guard out.isTTY else { return }
        func ms(_ v: Double?) -> String { v.map { String(format: "%.0f ms", $0) } ?? "–" }
        let lines = [
            "\(name)  scenario \(ScenarioClock.offset(s.scenarioS)) of \(ScenarioClock.offset(s.durationS))   wall \(ScenarioClock.offset(s.wallS))",
            String(format: "  devices   online %d   connecting %d   backing off %d   gave up %d   not joined %d",
                   s.online, s.connecting, s.backingOff, s.gaveUp, s.notJoined),
            String(format: "  per s     connects %.0f   disconnects %.0f   handshake p99 %@", s.connectsPerS, s.disconnectsPerS, ms(s.handshakeP99Ms)),
            "  backend   db busy \(s.dbUtilization.map { String(format: "%.0f%%", $0 * 100) } ?? "–")"
                + "   db wait \(s.dbWaitS.map { String(format: "%.2f s", $0) } ?? "–")"
                + "   memory \(s.backendMemoryBytes.map { ReportFormat.bytes($0) } ?? "–")   crashes \(s.backendCrashes)"
                + (s.scrapeFailures > 0 ? "   scrapes failed \(s.scrapeFailures)" : ""),
        ]
        var out = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        for l in lines { out += "\r\u{1B}[K" + l + "\n" }
        drawnLines = lines.count
        self.out.write(out)
    }

    func line(_ r: Report) {
        guard let i = r.series.tS.indices.last else { return }
        let s = r.series
        let fraction = s.eligible[i] == 0 ? 1 : Double(s.online[i]) / Double(s.eligible[i])
        out.write(String(format: "%@ %@: online %.1f%% (%d)  connects %d  disconnects %d  rejects %d  db busy %.0f%%  crashes %d\n",
                                                   name, ScenarioClock.offset(s.tS[i]), fraction * 100, s.online[i], s.connects[i],
                                                   s.disconnects[i], s.rejects[i], s.dbUtilization[i] * 100, s.crashes[i]))
    }
}
