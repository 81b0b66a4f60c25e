import DeviceModel
import FleetSim
import Foundation
import LoadReport
import Logging

/// `fleetsim run --processes N`: the parent of local shards (`FleetSim.LocalShards`). It holds
/// the backend's side of the run (`LiveRunner.Role.backend`) in `backend/`, starts N shards into
/// `shard-i/`, shows the fleet's progress, judges `abort_on_fail` on the fleet, and writes the
/// merged report and `series.jsonl` into the output folder.
extension RunCommand {
    func runLocalShards(_ s: Scenario, count: Int, target: String?) async throws {
        if let first = LiveRunner.unsupportedActions(s, target: target).first {
            throw CLIFailure.input("\(scenario): timeline[\(first.index)]: \(first.action) cannot be applied to target \(target ?? ""): "
                                   + "give it a hook (hooks.\(first.action): {http: \"POST URL\", token_env: VAR} or {shell: COMMAND})")
        }
        if target != nil, let missing = LiveRunner.missingHookToken(s) { throw CLIFailure.input("\(scenario): \(missing)") }
        let folder = try options.folder(for: s.name)
        try? FileManager.default.removeItem(atPath: folder + "/series.jsonl")   // an earlier run's, in a reused --out
        let backendFolder = folder + "/backend"
        try? FileManager.default.createDirectory(atPath: backendFolder, withIntermediateDirectories: true)
        var o = LiveRunner.Options(folder: backendFolder)
        o.target = target
        o.timeScale = timeScale ?? s.live.timeScale
        o.role = .backend
        o.observe = s.live.observe
        o.executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

        // Each shard: the same scenario, seed and time scale, its slice of the fleet, its own
        // loopback source address when the backend is on loopback (ports are per source address).
        let (path, overrides, scale, seed, timeScale, level) = (scenario, options.overrides, options.scale, s.seed, o.timeScale, logging.level)
        let sources = sourceAddresses, loops = eventLoops
        let shards = LocalShards(count: count, executable: o.executable, folder: { folder + "/shard-\($0)" },
                                 seriesPath: folder + "/series.jsonl") { i, url in
            var a = ["run", path, "--target", url, "--shard", "\(i)/\(count)", "--out", folder + "/shard-\(i)", "--quiet", "--local-shard",
                     "--time-scale", "\(timeScale)", "--seed", "\(seed)", "--scale", "\(scale)", "--event-loops", "\(loops)",
                     "--log-level", level.rawValue]
            for o in overrides { a += ["--set", o] }
            if !sources.isEmpty {
                for src in sources { a += ["--source-address", src] }
            } else if url.hasPrefix("ws://127.") || url.hasPrefix("wss://127.") {
                a += ["--source-address", "127.0.0.\(2 + i % 250)"]
            }
            return a
        }
        o.startClock = { url in try shards.start(deviceURL: url) }
        o.stopRequested = { shards.stopRequested }

        let latch = Signals.stopLatch()
        let display = StatusDisplay(enabled: !ci.quiet, name: s.name)
        o.notice = { display.note($0) }
        let aborting = s.thresholds.filter(\.abortOnFail)
        let progress = ShardsProgress()
        /// A new interval of the fleet: a line when not on a terminal, and the fleet's abort_on_fail.
        @Sendable func fleet(_ r: Report) {
            progress.fleet = r
            if !display.isTTY { display.line(r) }
            guard !aborting.isEmpty, progress.aborted == nil else { return }
            var copy = r
            try? copy.evaluateThresholds()
            if let failed = copy.thresholds.first(where: { t in t.ok == false && aborting.contains { $0.metric == t.metric && $0.expression == t.expression } }) {
                progress.aborted = "\(failed.metric): \(failed.expression) failed at t=\(Int(r.summary.durationS))s (abort_on_fail)"
                shards.requestStop()
            }
        }
        let service = LiveRunService(scenario: s, options: o, logger: Logger(label: "fleetsim.live"), status: { st in
            if let r = shards.advance(backend: progress.backend) { fleet(r) }
            display.show(progress.combined(st, shards.status, count: shards.count))
        }, interval: { r in
            progress.backend = r
            if let m = shards.advance(backend: r) { fleet(m) }
            return false
        })
        if !ci.quiet {
            let devices = FleetPlan(scenario: s, shard: .whole).deviceCount
            display.note("running \(s.name) live: \(devices) devices in \(count) local shards against \(target ?? "the embedded backend"), "
                         + "\(ReportFormat.duration(s.duration)) of scenario time"
                         + (o.timeScale != 1 ? " at ×\(o.timeScale) (\(ReportFormat.duration(LiveClock.wall(s.duration, timeScale: o.timeScale))) of wall time)" : ""))
        }
        try await Lifecycle.run([service], until: latch, logger: Logger(label: "fleetsim.lifecycle"))
        let backendReport: Report
        switch service.result {
        case .success(let r)?: backendReport = r
        case .failure(let error)?:
            shards.stopAll(grace: 10)
            throw CLIFailure(message: "fleetsim run: \(error)", code: 3)
        case nil:
            shards.stopAll(grace: 10)
            throw CLIFailure(message: "fleetsim run: stopped before the run started", code: 3)
        }
        // At the scenario's end every shard ends by itself; otherwise (stopped, aborted, a shard
        // died) they are asked to stop now.
        let early = backendReport.incomplete != nil || progress.aborted != nil || shards.failureText != nil
        if early || !shards.waitForExit(30) {
            if !ci.quiet { display.note("stopping the shards (each writes its report)…") }
            shards.stopAll(grace: 20)
        }
        var report: Report
        do { report = try ReportMerge.merge(shards.reports(), backend: backendReport) } catch {
            throw CLIFailure(message: "fleetsim run: cannot merge the shards' reports: \(error) (they are in \(folder)/shard-*/)", code: 3)
        }
        if let failure = shards.failureText {
            report.incomplete = failure + (report.incomplete.map { "; " + $0 } ?? "")
        } else if progress.aborted != nil {
            report.incomplete = nil   // as one process: the report of what ran until the abort
        }
        try ci.publish(&report, scenario: scenario, folder: folder)
        if let failure = shards.failureText { throw CLIFailure(message: "fleetsim run: \(failure); report written to \(folder)", code: 3) }
        if let aborted = progress.aborted { throw CLIFailure(message: "fleetsim run: stopped: \(aborted); report written to \(folder)", code: 1) }
        if let why = report.incomplete { throw CLIFailure(message: "fleetsim run: \(why); report written to \(folder)", code: 3) }
        try exitWithVerdict(report, what: scenario)
    }
}

/// The parent's view of its shards, on the run's thread: the backend side's latest report, the
/// fleet's abort, and the rates of the combined status.
private final class ShardsProgress: @unchecked Sendable {  // used from the run's thread only (its callbacks), read after it ended
    var backend: Report?
    /// The fleet's report so far (the shards' merge).
    var fleet: Report?
    var aborted: String?
    private var last = (connects: 0, disconnects: 0, at: Date())

    /// The backend side's status with the shards' devices in it.
    func combined(_ backendStatus: LiveRunner.Status, _ shards: LocalShards.ShardStatus, count: Int) -> LiveRunner.Status {
        var s = backendStatus
        (s.online, s.connecting, s.backingOff, s.gaveUp, s.notJoined) = (shards.online, shards.connecting, shards.backingOff, shards.gaveUp, shards.notJoined)
        let dt = max(0.001, Date().timeIntervalSince(last.at))
        s.connectsPerS = Double(max(0, shards.connects - last.connects)) / dt
        s.disconnectsPerS = Double(max(0, shards.disconnects - last.disconnects)) / dt
        last = (shards.connects, shards.disconnects, Date())
        s.connects = shards.connects
        s.disconnects = shards.disconnects
        s.handshakeP99Ms = fleet?.series.handshakeP99Ms.last ?? nil
        return s
    }
}
