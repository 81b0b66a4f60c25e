// Benchmarks of the reference backend (issue 4). Never run by `swift test`.
//
//   swift run -c release ReferenceBackendBenchmark scan-cost [--rows 100000,1000000] [--lookups N]
//   swift run -c release ReferenceBackendBenchmark server [--rows 1000000] [--connections 15000]
//                                                         [--churn-seconds 3] [--heartbeat-seconds 5]
//                                                         [--clients 2]
//   swift run -c release ReferenceBackendBenchmark handshake-cpu [--rows 100000] [--seconds 10] [--clients 1]
//                                                                [--concurrency 64] [--scrapes 200]
//   swift run -c release ReferenceBackendBenchmark metrics-ops [--iterations 2000000] [--runs 7]
//   swift run -c release ReferenceBackendBenchmark all
//
// `server` runs the backend in this process and the devices in a child process (the same binary in
// `client` mode), so each side has its own 20,000 file descriptors and the memory figure is the
// server's alone. All traffic is on loopback, bounded in count and time.
import DeviceModel
import Foundation
import NIOCore
import NIOPosix
import ReferenceBackend

var arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first ?? "all"
if !arguments.isEmpty { arguments.removeFirst() }

func option(_ name: String, _ fallback: String) -> String {
    if let i = arguments.firstIndex(of: name), i + 1 < arguments.count { return arguments[i + 1] }
    return fallback
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func log(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

// MARK: scan cost

func scanCost(rowsList: [Int], lookups: Int) throws {
    print("## Lookup cost (one read connection, release build)")
    print("| rows | seed s | indexed lookup µs | scan lookup ms | scan lookups |")
    print("|---:|---:|---:|---:|---:|")
    for rows in rowsList {
        let path = NSTemporaryDirectory() + "fleetsim-bench-\(rows)-\(getpid()).sqlite"
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let opened = try DeviceRegistry.prepare(path: path, rows: rows)
        let reader = try RegistryReader(path: path)
        var rng = SystemRandomNumberGenerator()
        let indexedCount = 20_000
        let uuids = (0..<indexedCount).map { _ in DeviceRegistry.seededUUID(index: Int.random(in: 0..<rows, using: &rng)) }
        var t = now()
        for u in uuids { let id = try reader.lookup(uuid: u, kind: .indexed); precondition(id != nil) }
        let indexedMicros = (now() - t) / Double(indexedCount) * 1e6
        // Warm the page cache once, then time.
        _ = try reader.lookup(uuid: uuids[0], kind: .scan)
        t = now()
        for u in uuids.prefix(lookups) { let id = try reader.lookup(uuid: u, kind: .scan); precondition(id != nil) }
        let scanMillis = (now() - t) / Double(lookups) * 1e3
        print(String(format: "| %d | %.2f | %.1f | %.1f | %d |", rows, opened.seedSeconds, indexedMicros, scanMillis, lookups))
    }
}

// MARK: server under load (parent side)

func serverLoad(rows: Int, connections: Int, churnSeconds: Double, heartbeatSeconds: Double) async throws {
    var config = ReferenceBackendConfiguration()
    config.rows = rows
    config.port = 0
    config.lastSeenFlushInterval = .seconds(1)
    let backend = ReferenceBackend(configuration: config)
    let (_, port) = try await backend.start()
    log("backend on port \(port), registry \(backend.registry!.rows) rows (seeded in \(String(format: "%.2f", backend.registry!.seedSeconds)) s)")

    let clients = max(1, Int(option("--clients", "2"))!)
    var cpuMark = ProcessStats.cpuSeconds()
    var cpu: [String: Double] = [:]   // server CPU seconds per phase
    var results: [String: [Double]] = [:]
    var baseline = 0, withConnections = 0

    /// One child process of devices, spoken to through its standard input and output.
    final class Child {
        let process = Process()
        let toChild = Pipe(), fromChild = Pipe()
        var pending = ""
        func nextLine() -> String? {
            while true {
                if let nl = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<nl]); pending = String(pending[pending.index(after: nl)...]); return line
                }
                let data = fromChild.fileHandleForReading.availableData
                if data.isEmpty { return nil }
                pending += String(decoding: data, as: UTF8.self)
            }
        }
        /// The next RESULT line: (phase, numbers).
        func nextResult() -> (String, [Double])? {
            while let line = nextLine() {
                let parts = line.split(separator: " ")
                guard parts.first == "RESULT", parts.count >= 2 else { continue }
                return (String(parts[1]), parts.dropFirst(2).compactMap { Double($0) })
            }
            return nil
        }
        func go() { toChild.fileHandleForWriting.write(Data("go\n".utf8)) }
    }
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var children: [Child] = []
    for k in 0..<clients {
        let c = Child()
        c.process.executableURL = URL(fileURLWithPath: exe)
        c.process.arguments = ["client", "--port", String(port), "--rows", String(rows),
                               "--connections", String(connections / clients + (k < connections % clients ? 1 : 0)),
                               "--churn-seconds", String(churnSeconds), "--heartbeat-seconds", String(heartbeatSeconds),
                               "--source-base", String(2 + 16 * k)]
        c.process.standardInput = c.toChild
        c.process.standardOutput = c.fromChild
        try c.process.run()
        children.append(c)
    }
    /// Waits for every child's result of a phase: counts add up, durations take the longest.
    func collect(_ phase: String) {
        var sum: [Double] = []
        for c in children {
            guard let (name, values) = c.nextResult(), name == phase else { continue }
            if sum.isEmpty { sum = values } else {
                for (i, v) in values.enumerated() where i < sum.count { sum[i] = i == 1 ? max(sum[i], v) : sum[i] + v }
            }
        }
        results[phase] = sum
        cpu[phase] = ProcessStats.cpuSeconds() - cpuMark
    }
    collect("churn")
    try await Task.sleep(nanoseconds: 1_000_000_000)
    baseline = ProcessStats.anonymousBytes()
    cpuMark = ProcessStats.cpuSeconds()
    children.forEach { $0.go() }
    collect("open")
    try await Task.sleep(nanoseconds: 2_000_000_000)
    withConnections = ProcessStats.anonymousBytes()
    log("server: \(backend.stats.openConnections) open connections, RSS \(withConnections >> 20) MiB (baseline \(baseline >> 20) MiB)")
    cpuMark = ProcessStats.cpuSeconds()
    children.forEach { $0.go() }
    collect("heartbeat")
    for c in children { c.process.waitUntilExit() }
    let stats = backend.stats
    try await backend.shutdown()

    print("## Server under load (1 server process, \(clients) client processes, \(ProcessInfo.processInfo.activeProcessorCount) cores shared by all, \(rows) rows, indexed lookups)")
    if let c = results["churn"], c.count >= 3 {
        print(String(format: "- handshakes (connect + upgrade + hello + indexed lookup + welcome + close), 128 in flight per client: %.0f /s (%.0f in %.1f s, %.0f failed); server CPU %.0f µs per handshake", c[0] / c[1], c[0], c[1], c[2], (cpu["churn"] ?? 0) / max(1, c[0]) * 1e6))
    }
    if let o = results["open"], o.count >= 3 {
        print(String(format: "- opening %.0f connections and holding them, 256 in flight per client: %.0f handshakes/s (%.1f s, %.0f failed); server CPU %.0f µs per handshake", o[0], o[0] / o[1], o[1], o[2], (cpu["open"] ?? 0) / max(1, o[0]) * 1e6))
        let open = max(1, Int(o[0]))
        print(String(format: "- server memory per open connection: %.2f KiB (anonymous RSS %.1f MiB idle → %.1f MiB with %d connections)",
                     Double(withConnections - baseline) / Double(open) / 1024, Double(baseline) / 1048576, Double(withConnections) / 1048576, open))
        if o.count >= 4 { print(String(format: "- client memory per connection (for reference): %.2f KiB", o[3] / Double(open) / 1024)) }
    }
    if let h = results["heartbeat"], h.count >= 2 {
        print(String(format: "- heartbeats → acks, one in flight per connection: %.0f /s (%.0f in %.1f s); server CPU %.1f µs per heartbeat", h[0] / h[1], h[0], h[1], (cpu["heartbeat"] ?? 0) / max(1, h[0]) * 1e6))
    }
    var load = ""
    if let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) { load = String(text.split(separator: " ").prefix(3).joined(separator: " ")) }
    print("- machine load average at the end (1, 5, 15 min): \(load)")
    print("- server counters: welcome \(stats.handshakes[.welcome] ?? 0), registered \(stats.handshakes[.registered] ?? 0), heartbeats \(stats.heartbeats), rejects \(stats.rejects.values.reduce(0, +))")
}

// MARK: server CPU per handshake (parent side)

/// The server process's CPU time (user + system, getrusage) per handshake during `seconds` of
/// churn, and the CPU time of one `/metrics` scrape: the figures to compare two builds of the
/// backend with (RESULTS.md, "Metrics"). One `RESULT` line, so that runs can be collected by a script.
func handshakeCPU(rows: Int, seconds: Double, clients: Int, concurrency: Int, scrapes: Int) async throws {
    var config = ReferenceBackendConfiguration()
    config.rows = rows
    config.port = 0
    config.lastSeenFlushInterval = .seconds(1)
    let backend = ReferenceBackend(configuration: config)
    let (_, port) = try await backend.start()
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let cpuStart = ProcessStats.cpuSeconds()
    var children: [(Process, Pipe)] = []
    for k in 0..<clients {
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["client", "--churn-only", "--port", String(port), "--rows", String(rows),
                             "--churn-seconds", String(seconds), "--concurrency", String(concurrency),
                             "--source-base", String(2 + 16 * k)]
        process.standardOutput = output
        try process.run()
        children.append((process, output))
    }
    // A scrape a second while the devices churn, as `fleetsim run` does every interval.
    let scraping = Task {
        while !Task.isCancelled {
            _ = backend.metricsText()
            try? await Task.sleep(nanoseconds: 1_000_000_000)
        }
    }
    var handshakes = 0.0, failed = 0.0, wall = 0.0
    for (process, output) in children {
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        for line in text.split(separator: "\n") where line.hasPrefix("RESULT churn ") {
            let v = line.split(separator: " ").dropFirst(2).compactMap { Double($0) }
            if v.count >= 3 { handshakes += v[0]; wall = max(wall, v[1]); failed += v[2] }
        }
    }
    scraping.cancel()
    let cpu = ProcessStats.cpuSeconds() - cpuStart
    // The scrape itself, on its own: CPU time of this thread over `scrapes` renderings.
    let before = threadCPUSeconds()
    for _ in 0..<scrapes { _ = backend.metricsText() }
    let scrapeMicros = (threadCPUSeconds() - before) / Double(max(1, scrapes)) * 1e6
    let welcomed = backend.stats.handshakes[.welcome] ?? 0
    try await backend.shutdown()
    var load = ""
    if let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) { load = String(text.split(separator: " ").first ?? "") }
    print(String(format: "RESULT handshakes %.0f failed %.0f wall_s %.2f server_cpu_s %.3f cpu_us_per_handshake %.2f scrape_cpu_us %.1f",
                 handshakes, failed, wall, cpu, cpu / max(1, handshakes) * 1e6, scrapeMicros) + " welcomed \(welcomed) load1 \(load)")
}

/// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID).
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

// MARK: devices (child side)

final class LoadDriver: @unchecked Sendable {
    let loop: EventLoop
    let port: Int
    let rows: Int
    var started = 0, succeeded = 0, failed = 0, inFlight = 0
    var devices: [BenchDevice] = []
    var acks = 0
    var sourceIndex = 0
    var sourceBase = 2

    init(loop: EventLoop, port: Int, rows: Int) { self.loop = loop; self.port = port; self.rows = rows }

    func connect(device: BenchDevice) {
        sourceIndex += 1
        let source = try! SocketAddress(ipAddress: "127.0.0.\(sourceBase + sourceIndex % 16)", port: 0)
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.Types.SocketOption(level: SocketOptionLevel(IPPROTO_IP), name: 24), value: 1) // IP_BIND_ADDRESS_NO_PORT
            .connectTimeout(.seconds(10))
            .bind(to: source)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(device) } }
            .connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: port))
            .whenFailure { _ in device.onFailure?(device, "connect failed") }
    }

    func newDevice() -> BenchDevice {
        let index = Int.random(in: 0..<rows)
        return BenchDevice(port: port, uuid: DeviceRegistry.seededUUID(index: index), firmware: "3.7.2")
    }

    /// Handshake churn: connect, hello, welcome, close; `concurrency` at a time until `seconds` pass.
    func churn(concurrency: Int, seconds: Double) -> EventLoopFuture<(Int, Double, Int)> {
        let promise = loop.makePromise(of: (Int, Double, Int).self)
        let start = now(), end = start + seconds
        var ok = 0, bad = 0, active = 0
        func launch() {
            active += 1
            let d = newDevice()
            d.onWelcome = { d in ok += 1; d.closeGracefully(); next() }
            d.onFailure = { _, _ in bad += 1; next() }
            connect(device: d)
        }
        func next() {
            active -= 1
            if now() < end { launch() } else if active == 0 { promise.succeed((ok, now() - start, bad)) }
        }
        loop.execute { for _ in 0..<concurrency { launch() } }
        return promise.futureResult
    }

    /// Opens `count` connections (hello → welcome) and keeps them.
    func open(count: Int, concurrency: Int) -> EventLoopFuture<(Int, Double, Int)> {
        let promise = loop.makePromise(of: (Int, Double, Int).self)
        let start = now()
        var launched = 0, done = 0, bad = 0
        func launch() {
            guard launched < count else { return }
            launched += 1
            let d = newDevice()
            d.onWelcome = { [unowned self] d in self.devices.append(d); finish() }
            d.onFailure = { d, _ in if d.phase != .online { bad += 1; finish() } }
            connect(device: d)
        }
        func finish() {
            done += 1
            if done == count { promise.succeed((devices.count, now() - start, bad)) } else { launch() }
        }
        loop.execute { for _ in 0..<concurrency { launch() } }
        return promise.futureResult
    }

    /// Every open device keeps one heartbeat in flight for `seconds`.
    func heartbeats(seconds: Double) -> EventLoopFuture<(Int, Double)> {
        let promise = loop.makePromise(of: (Int, Double).self)
        let start = now(), end = start + seconds
        var outstanding = 0, acks = 0
        loop.execute {
            for d in self.devices {
                d.onAck = { d in
                    acks += 1
                    if now() < end { d.heartbeat() } else {
                        outstanding -= 1
                        if outstanding == 0 { promise.succeed((acks, now() - start)) }
                    }
                }
                outstanding += 1
                d.heartbeat()
            }
            if outstanding == 0 { promise.succeed((0, 0)) }
        }
        return promise.futureResult
    }
}

func runClient() throws {
    let port = Int(option("--port", "0"))!
    let rows = Int(option("--rows", "1000000"))!
    let connections = Int(option("--connections", "15000"))!
    let churnSeconds = Double(option("--churn-seconds", "3"))!
    let heartbeatSeconds = Double(option("--heartbeat-seconds", "5"))!
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let driver = LoadDriver(loop: group.next(), port: port, rows: rows)
    driver.sourceBase = Int(option("--source-base", "2"))!
    func report(_ s: String) { print(s); fflush(stdout) }

    let c = try driver.churn(concurrency: Int(option("--concurrency", "128"))!, seconds: churnSeconds).wait()
    report("RESULT churn \(c.0) \(c.1) \(c.2)")
    if arguments.contains("--churn-only") {
        try group.syncShutdownGracefully()
        return
    }
    _ = readLine()
    let before = ProcessStats.anonymousBytes()
    let o = try driver.open(count: connections, concurrency: 256).wait()
    report("RESULT open \(o.0) \(o.1) \(o.2) \(ProcessStats.anonymousBytes() - before)")
    _ = readLine()
    let h = try driver.heartbeats(seconds: heartbeatSeconds).wait()
    report("RESULT heartbeat \(h.0) \(h.1)")
    try driver.loop.submit { for d in driver.devices { d.closeGracefully() } }.wait()
    Thread.sleep(forTimeInterval: 1)
    try group.syncShutdownGracefully()
}

switch mode {
case "scan-cost":
    let rowsList = option("--rows", "100000,1000000").split(separator: ",").compactMap { Int($0) }
    try scanCost(rowsList: rowsList, lookups: Int(option("--lookups", "20"))!)
case "server":
    try await serverLoad(rows: Int(option("--rows", "1000000"))!, connections: Int(option("--connections", "15000"))!,
                         churnSeconds: Double(option("--churn-seconds", "3"))!, heartbeatSeconds: Double(option("--heartbeat-seconds", "5"))!)
case "handshake-cpu":
    try await handshakeCPU(rows: Int(option("--rows", "100000"))!, seconds: Double(option("--seconds", "10"))!,
                           clients: max(1, Int(option("--clients", "1"))!), concurrency: Int(option("--concurrency", "64"))!,
                           scrapes: Int(option("--scrapes", "200"))!)
case "metrics-ops":
    metricsOps(iterations: Int(option("--iterations", "2000000"))!, runs: Int(option("--runs", "7"))!)
case "metrics-text":
    // A fresh backend's exposition: to compare the series of two builds.
    var config = ReferenceBackendConfiguration()
    config.rows = 1_000
    config.port = 0
    let backend = ReferenceBackend(configuration: config)
    _ = try await backend.start()
    print(backend.metricsText(), terminator: "")
    try await backend.shutdown()
case "client":
    try runClient()
case "all":
    try scanCost(rowsList: [100_000, 1_000_000], lookups: 20)
    print("")
    try await serverLoad(rows: 1_000_000, connections: 15_000, churnSeconds: 3, heartbeatSeconds: 5)
default:
    log("usage: ReferenceBackendBenchmark [scan-cost|server|handshake-cpu|metrics-ops|all] (see the comment at the top of main.swift)")
    exit(2)
}
