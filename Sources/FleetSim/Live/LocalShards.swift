import Foundation
import LoadReport
import NIOCore
import WSClient

/// `fleetsim run --processes N`: one run split over N child processes on this machine, each a
/// `--shard i/N` of the fleet plan (the same devices, UUIDs and random streams as one process)
/// against one backend, for fleets beyond one process's descriptor limit.
///
/// The parent holds the backend's side (`LiveRunner.Role.backend`: the embedded backend, its
/// samples once per interval, the timeline's backend effects); each shard holds its devices
/// (`Role.devices`). They share one clock: every shard reports `ready` on its standard output,
/// and the parent answers with the start, a `NIODeadline` (the machine's monotonic clock, the same
/// in every process). While they run, the parent follows each shard's `series.jsonl` and merges
/// interval by interval (`ReportMerge.merge(_:backend:)`), for its progress view, its own
/// `series.jsonl` and the fleet's `abort_on_fail` thresholds. A shard that dies is named and the
/// others are stopped; closing a shard's standard input stops it as Ctrl-C does (so a parent
/// killed outright does not leave its shards running).
public final class LocalShards: @unchecked Sendable {  // mutable state guarded by `lock`
    public struct Failure: Error, CustomStringConvertible { public var description: String }

    /// A shard's latest progress line (`status …` on its standard output, once a second).
    public struct ShardStatus: Sendable {
        public var online = 0, connecting = 0, backingOff = 0, gaveUp = 0, notJoined = 0
        public var connects = 0, disconnects = 0

        public init() {}

        /// The line a shard prints: `status` and the seven counts.
        public var line: String { "status \(online) \(connecting) \(backingOff) \(gaveUp) \(notJoined) \(connects) \(disconnects)" }

        init?(line: Substring) {
            let f = line.split(separator: " ").dropFirst().compactMap { Int($0) }
            guard line.hasPrefix("status "), f.count == 7 else { return nil }
            (online, connecting, backingOff, gaveUp, notJoined, connects, disconnects) = (f[0], f[1], f[2], f[3], f[4], f[5], f[6])
        }

        mutating func add(_ o: ShardStatus) {
            online += o.online; connecting += o.connecting; backingOff += o.backingOff; gaveUp += o.gaveUp
            notJoined += o.notJoined; connects += o.connects; disconnects += o.disconnects
        }
    }

    private final class Shard: @unchecked Sendable {  // its mutable fields are guarded by the owner's `lock`
        let index: Int
        let folder: String
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        var ready = false
        var status = ShardStatus()
        var exited: String?
        let series: SeriesLog.Reader
        init(index: Int, folder: String) {
            self.index = index
            self.folder = folder
            series = SeriesLog.Reader(path: folder + "/series.jsonl")
        }
    }

    public let count: Int
    private let shards: [Shard]
    private let arguments: @Sendable (_ index: Int, _ deviceURL: String) -> [String]
    private let executable: String
    private let lock = NSLock()
    private var stopping = false
    private var failure: String?
    private var merged: Report?
    private var mergedLog: SeriesLog?
    private let mergedLogPath: String?

    /// `count` shards of `executable`, shard `i` started with `arguments(i, deviceURL)` and
    /// writing into `folder(i)`; the merged series goes to `seriesPath` as it grows.
    public init(count: Int, executable: String, folder: (Int) -> String, seriesPath: String?,
                arguments: @escaping @Sendable (_ index: Int, _ deviceURL: String) -> [String]) {
        self.count = count
        self.executable = executable
        self.arguments = arguments
        self.mergedLogPath = seriesPath
        shards = (0..<count).map { Shard(index: $0, folder: folder($0)) }
    }

    /// The folder shard `index` writes into.
    public func folder(of index: Int) -> String { shards[index].folder }

    /// The shard `i/N` name of shard `index`.
    func name(_ index: Int) -> String { "shard \(index)/\(count)" }

    /// The devices one process holds within its descriptor limit: every device is a socket, and
    /// a few hundred descriptors are the process's own (its event loops, files, the backend's pipes).
    public static func devicesPerProcess(_ budget: FileDescriptorBudget = WSClient.fileDescriptorBudget()) -> Int {
        max(100, Int(Double(budget.softLimit - budget.open - 300) * 0.95))
    }

    /// How many processes a fleet of `devices` needs (`devicesPerProcess` each).
    public static func processesNeeded(devices: Int, perProcess: Int = devicesPerProcess()) -> Int {
        max(1, (devices + perProcess - 1) / perProcess)
    }

    // MARK: Starting

    /// Starts every shard against `deviceURL`, waits until each is ready (its devices planned, its
    /// connections prepared), and returns the common start, a little ahead, for every process's clock.
    public func start(deviceURL: String, timeout: Double = 120) throws -> UInt64 {
        for s in shards {
            try? FileManager.default.createDirectory(atPath: s.folder, withIntermediateDirectories: true)
            // An earlier run's files in a reused --out would be followed, or merged, as this run's.
            for file in ["series.jsonl", "report.json", "report.md", "report.html"] { try? FileManager.default.removeItem(atPath: s.folder + "/" + file) }
            _ = FileManager.default.createFile(atPath: s.folder + "/run.log", contents: nil)
            s.process.executableURL = URL(fileURLWithPath: executable)
            s.process.arguments = arguments(s.index, deviceURL)
            s.process.standardInput = s.input
            s.process.standardOutput = s.output
            s.process.standardError = FileHandle(forWritingAtPath: s.folder + "/run.log")
            do { try s.process.run() } catch {
                stopAll(grace: 5)
                throw Failure(description: "cannot start \(name(s.index)) (\(executable)): \(error.localizedDescription)")
            }
            let thread = Thread { [weak self] in self?.read(s) }
            thread.name = "fleetsim-shard-\(s.index)"
            thread.start()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let (allReady, dead) = lock.withLock { (shards.allSatisfy(\.ready), shards.first { !$0.process.isRunning }) }
            if allReady { break }
            if let dead {
                stopAll(grace: 5)
                throw Failure(description: "\(name(dead.index)) exited before it was ready: \(exitText(dead)); \(lastLog(dead))")
            }
            if Date() > deadline {
                stopAll(grace: 5)
                throw Failure(description: "the shards were not ready within \(Int(timeout)) s (see \(shards[0].folder)/run.log)")
            }
            usleep(20_000)
        }
        let start = NIODeadline.now().uptimeNanoseconds + 300_000_000
        for s in shards { s.input.fileHandleForWriting.write(Data("start \(start)\n".utf8)) }
        return start
    }

    /// A shard's standard output, line by line, until it closes.
    private func read(_ s: Shard) {
        var buffer = Data()
        let handle = s.output.fileHandleForReading
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer = Data(buffer[(newline + 1)...])
                lock.withLock {
                    if line == "ready" { s.ready = true } else if let status = ShardStatus(line: Substring(line)) { s.status = status }
                }
            }
        }
    }

    // MARK: While it runs

    /// True once a shard died or the fleet failed an `abort_on_fail` threshold: the parent stops.
    public var stopRequested: Bool { lock.withLock { failure != nil || stopping } }

    /// Why the run stops early, when a shard died (its name, how it ended, its log's last line).
    public var failureText: String? { lock.withLock { failure } }

    /// Asks for the run to stop (an `abort_on_fail` threshold failed on the fleet).
    public func requestStop() { lock.withLock { stopping = true } }

    /// The shards' progress lines, added up.
    public var status: ShardStatus {
        lock.withLock { shards.reduce(into: ShardStatus()) { $0.add($1.status) } }
    }

    /// Checks that every shard is alive, reads what their `series.jsonl` gained, and returns the
    /// fleet's report when all of them and `backend` (the parent's report so far) have closed an
    /// interval not merged before; nil: nothing new.
    public func advance(backend: Report?) -> Report? {
        lock.withLock {
            for s in shards where s.exited == nil && !s.process.isRunning {
                s.exited = exitText(s)
                let normal = s.process.terminationReason == .exit && [0, 1].contains(s.process.terminationStatus)
                if !normal && failure == nil && !stopping {
                    failure = "\(name(s.index)) (pid \(s.process.processIdentifier)) \(s.exited!)"
                        + (s.series.count > 0 ? " after \(s.series.count) intervals" : "") + "; \(lastLog(s))"
                }
            }
        }
        var reports: [Report] = []
        for s in shards {
            guard let r = try? s.series.poll() else { return nil }
            reports.append(r)
        }
        guard let backend else { return nil }
        let common = min(backend.series.count, reports.map(\.series.count).min() ?? 0)
        guard common > (lock.withLock { merged?.series.count } ?? 0) else { return nil }
        guard var report = try? ReportMerge.merge(reports.map { $0.prefix(intervals: common) }, backend: backend.prefix(intervals: common)) else {
            return nil
        }
        report.incomplete = nil
        lock.withLock { merged = report }
        if let path = mergedLogPath {
            if mergedLog == nil {
                var info = Recorder.RunInfo(mode: report.mode, scenario: report.scenario, seed: report.seed, clockStart: report.clockStart,
                                            devices: report.summary.devices, thresholds: report.thresholds.map { ($0.metric, $0.expression) })
                info.shard = nil
                mergedLog = try? SeriesLog(path: path, info: info, intervalS: report.series.intervalS)
            }
            mergedLog?.append(report)
        }
        return report
    }

    // MARK: Stopping

    /// Waits up to `seconds` for every shard to end by itself (at the end of the scenario, each
    /// writes its report and exits); true when they all have.
    public func waitForExit(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if shards.allSatisfy({ $0.process.processIdentifier == 0 || !$0.process.isRunning }) { return true }
            usleep(50_000)
        }
        return false
    }

    /// Stops every shard still running: its standard input closes (it stops as on Ctrl-C and
    /// writes its report); after `grace` seconds, SIGTERM; after as long again, SIGKILL.
    public func stopAll(grace: Double = 30) {
        for s in shards { try? s.input.fileHandleForWriting.close() }
        func wait(_ seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if shards.allSatisfy({ !$0.process.isRunning || $0.process.processIdentifier == 0 }) { return true }
                usleep(50_000)
            }
            return false
        }
        if wait(grace) { return }
        for s in shards where s.process.isRunning { kill(s.process.processIdentifier, SIGTERM) }
        if wait(grace) { return }
        for s in shards where s.process.isRunning { kill(s.process.processIdentifier, SIGKILL) }
        _ = wait(5)
    }

    /// Every shard's report once they have stopped: its `report.json`, else (killed before it
    /// wrote one) what its `series.jsonl` holds; a shard with neither is left out (the merge
    /// names it as missing).
    public func reports() -> [Report] {
        _ = advance(backend: nil)
        mergedLog?.close()
        return shards.compactMap { s in
            if let data = FileManager.default.contents(atPath: s.folder + "/report.json"), let r = try? Report.read(from: data) { return r }
            return try? SeriesLog.rebuild(path: s.folder + "/series.jsonl")
        }
    }

    /// How a shard ended, for a message.
    private func exitText(_ s: Shard) -> String {
        guard s.process.processIdentifier != 0, !s.process.isRunning else { return "is running" }
        switch s.process.terminationReason {
        case .uncaughtSignal: return "died: killed by signal \(s.process.terminationStatus)"
        default: return "exited with status \(s.process.terminationStatus)"
        }
    }

    /// The last line a shard logged, for a message.
    private func lastLog(_ s: Shard) -> String {
        let text = (try? String(contentsOfFile: s.folder + "/run.log", encoding: .utf8)) ?? ""
        let last = text.split(separator: "\n").last.map(String.init)
        return last.map { "its log (\(s.folder)/run.log) ends: \($0)" } ?? "its log (\(s.folder)/run.log) is empty"
    }
}

/// A local shard's side of `LocalShards`: `ready` on standard output, the parent's start on
/// standard input, a progress line a second, and a stop when standard input closes.
public final class LocalShardLink: @unchecked Sendable {  // `closed` guarded by `lock`
    private let lock = NSLock()
    private var closed = false

    /// A shard writes to its parent through a pipe: a parent gone must not end it (SIGPIPE) before
    /// it has written its report.
    public init() { signal(SIGPIPE, SIG_IGN) }

    /// `text` written to `fd` with plain `write(2)` calls; errors (a closed pipe, a hung-up
    /// terminal) are ignored, where `FileHandle.write` would trap.
    public static func writeIgnoringErrors(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }

    /// Says `ready`, waits for the parent's `start N`, then watches standard input for its end.
    /// Returns the start (`NIODeadline.uptimeNanoseconds`) once it has come.
    public func waitForStart() throws -> UInt64 {
        Self.writeIgnoringErrors(STDOUT_FILENO, "ready\n")
        guard let line = readLine(strippingNewline: true) else { throw LocalShards.Failure(description: "the parent closed the shard's input before the start") }
        guard line.hasPrefix("start "), let start = UInt64(line.dropFirst(6)) else {
            throw LocalShards.Failure(description: "expected \"start N\" from the parent, got \"\(line)\"")
        }
        let thread = Thread { [weak self] in
            while readLine() != nil {}
            self?.lock.withLock { self?.closed = true }
        }
        thread.name = "fleetsim-shard-input"
        thread.start()
        let now = NIODeadline.now().uptimeNanoseconds
        if start > now { usleep(UInt32(min(10_000_000, (start - now) / 1_000))) }
        return start
    }

    /// True once the parent closed standard input (it asks the shard to stop, or it is gone).
    public var parentGone: Bool { lock.withLock { closed } }

    /// A progress line for the parent.
    public func report(_ s: LiveRunner.Status) {
        var status = LocalShards.ShardStatus()
        (status.online, status.connecting, status.backingOff, status.gaveUp, status.notJoined) = (s.online, s.connecting, s.backingOff, s.gaveUp, s.notJoined)
        (status.connects, status.disconnects) = (s.connects, s.disconnects)
        Self.writeIgnoringErrors(STDOUT_FILENO, status.line + "\n")
    }
}
