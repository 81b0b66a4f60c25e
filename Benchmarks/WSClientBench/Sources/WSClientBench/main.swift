import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import WSClient

// WSClientBench: measures WSClient against a loopback echo server running in another process.
//
//   WSClientBench server [--port 9001] [--threads 1] [--deflate] [--tls cert.pem key.pem] [--reuseport]
//   WSClientBench server --light [--port 9001] [--threads 1] [--reuseport]   (ws:// only, no extensions)
//   WSClientBench idle --url ws://127.0.0.1:9001/ --connections 15000 [--sources 2-9] [--inflight 256] [--deflate] [--ca cert.pem]
//   WSClientBench heartbeat --url ws://127.0.0.1:9001/ --connections 1000 --rounds 20 [--deflate] [--ca cert.pem]
//   WSClientBench paced --url ws://127.0.0.1:9001/ --connections 15000 [--interval-ms 30000] [--seconds 60]
//   (idle, heartbeat and paced: [--client-threads N], default one event-loop thread per core)
//
// `idle` prints set-up rate (connections/s) and client memory per idle connection (peak RSS
// minus the RSS before connecting, divided by connections). `heartbeat` prints client CPU time
// (user+sys, getrusage) per round trip of one small text frame each way. `paced` holds the
// connections and has each send one heartbeat every --interval-ms, spread evenly (one repeating
// 20 ms task per loop sends the ones due), the shape of a live fleet's heartbeats: it prints
// client CPU per round trip over the holding time after a 10 s settling.

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}
func flag(_ name: String) -> Bool { args.contains(name) }

func rssKiB(_ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field) {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

/// Process CPU time (user + system) in seconds.
func cpuSeconds() -> Double { let (u, s) = cpuSplit(); return u + s }

/// Process CPU time split into user and system seconds.
func cpuSplit() -> (user: Double, system: Double) {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return (Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
            Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
}

/// Counts events from all loops; also keeps open connections for a later close.
final class BenchDelegate: WSConnectionDelegate, @unchecked Sendable {
    let lock = NIOLock()
    var opened = 0
    var failed: [String: Int] = [:]
    var closed = 0
    var echoes = 0
    var connections: [WSConnection] = []
    var roundsLeft: [Int] = []
    var rounds = 0
    var firstOpen: NIODeadline? = nil
    var lastOpen: NIODeadline? = nil
    let onOpenCallback: (@Sendable () -> Void)?
    let payload = "{\"type\":\"heartbeat\",\"seq\":1}"

    /// When set, each open (or failed) connection starts the next one from its own event loop,
    /// the way a live runner reconnects from loop timers: no cross-thread hop per connect.
    var chain: (client: WSClient, endpoint: WSEndpoint, remaining: Int)? = nil

    init(onOpen: (@Sendable () -> Void)? = nil) { self.onOpenCallback = onOpen }

    func startNext(on loop: EventLoop) {
        let next: (WSClient, WSEndpoint, Int)? = lock.withLock {
            guard var c = chain, c.remaining > 0 else { return nil }
            c.remaining -= 1
            chain = c
            return (c.client, c.endpoint, c.remaining)
        }
        if let (client, endpoint, tag) = next {
            client.connect(to: endpoint, tag: tag, on: loop, delegate: self)
        }
    }

    func webSocketDidOpen(_ c: WSConnection) {
        lock.withLock {
            opened += 1
            connections.append(c)
            let now = NIODeadline.now()
            if firstOpen == nil { firstOpen = now }
            lastOpen = now
        }
        startNext(on: c.eventLoop)
        onOpenCallback?()
    }

    func webSocket(_ c: WSConnection, didReceiveText text: String) {
        // Heartbeat mode: send the next round until done (no lock on the hot path but the counter).
        let tag = c.tag
        let more: Bool = lock.withLock {
            echoes += 1
            roundsLeft[tag] -= 1
            return roundsLeft[tag] > 0
        }
        if more { c.send(text: payload) }
    }

    func webSocket(_ c: WSConnection, didCloseWith cause: WSCloseCause, timings: WSTimings) {
        let wasOpen = timings.upgraded != nil
        lock.withLock {
            if cause != .normal { failed[cause.label, default: 0] += 1 }
            closed += 1
        }
        if !wasOpen { startNext(on: c.eventLoop) }
    }
}

func parseSources(_ s: String?) -> [String] {
    guard let s else { return [] }
    let parts = s.split(separator: "-").compactMap { Int($0) }
    guard parts.count == 2 else { return [] }
    return WSConfiguration.loopbackSources(parts[0]...parts[1])
}

func makeClient() throws -> WSClient {
    var config = WSConfiguration()
    config.connectTimeout = .seconds(20)
    config.upgradeTimeout = .seconds(20)
    config.tlsTimeout = .seconds(20)
    config.sourceAddresses = parseSources(option("--sources"))
    if flag("--deflate") { config.compression = WSCompression() }
    if let ca = option("--ca") { config.tls.caFile = ca }
    if let name = option("--server-name") { config.tls.serverName = name }
    // One loop thread per core by default; `--client-threads N` to choose.
    let group: EventLoopGroup = option("--client-threads").flatMap { Int($0) }
        .map { MultiThreadedEventLoopGroup(numberOfThreads: $0) } ?? MultiThreadedEventLoopGroup.singleton
    return try WSClient(configuration: config, eventLoopGroup: group)
}

/// Opens `count` connections keeping at most `inflight` handshakes in flight; returns seconds taken.
/// The first `inflight` connects are spread over the loops; each completion starts the next one
/// on its own loop.
func openAll(client: WSClient, endpoint: WSEndpoint, count: Int, inflight: Int, delegate: BenchDelegate) -> Double {
    let start = NIODeadline.now()
    let first = min(count, inflight)
    delegate.lock.withLock { delegate.chain = (client, endpoint, count - first) }
    let loops = Array(client.eventLoopGroup.makeIterator())
    for i in 0..<first {
        let loop = loops[i % loops.count]
        loop.execute { client.connect(to: endpoint, tag: count - 1 - i, on: loop, delegate: delegate) }
    }
    while true {
        let (opened, failed) = delegate.lock.withLock { (delegate.opened, delegate.closed) }
        if opened + failed >= count { break }
        usleep(2000)
    }
    return Double((NIODeadline.now() - start).nanoseconds) / 1e9
}

func endpoint(_ client: WSClient) throws -> WSEndpoint {
    let url = option("--url") ?? "ws://127.0.0.1:9001/"
    var e = try WSEndpoint(url: url)
    if e.address == nil {
        e = try client.resolve(e).wait()
    }
    return e
}

switch args.first {
case "server" where flag("--light"):
    try LightEchoServer.run(port: Int(option("--port") ?? "9001") ?? 9001, threads: Int(option("--threads") ?? "1") ?? 1,
                            reusePort: flag("--reuseport"))

case "server":
    try EchoServer.run(port: Int(option("--port") ?? "9001") ?? 9001, threads: Int(option("--threads") ?? "1") ?? 1,
                       deflate: flag("--deflate"), certFile: option("--tls"), keyFile: args.firstIndex(of: "--tls").map { args[$0 + 2] },
                       reusePort: flag("--reuseport"))

case "idle":
    let count = Int(option("--connections") ?? "1000") ?? 1000
    let budget = WSClient.fileDescriptorBudget()
    print(budget)
    if let problem = budget.shortfall(forConnections: count) {
        print("error: \(problem)")
        exit(2)
    }
    let client = try makeClient()
    let e = try endpoint(client)
    // Warm up: start the loops and allocate their buffers before the baseline.
    let warm = BenchDelegate()
    _ = openAll(client: client, endpoint: e, count: 50, inflight: 50, delegate: warm)
    for c in warm.connections { c.close() }
    while warm.lock.withLock({ warm.closed }) < 50 { usleep(1000) }
    sleep(1)
    let baseline = rssKiB("VmRSS:")
    let d = BenchDelegate()
    let (user0, sys0) = cpuSplit()
    let seconds = openAll(client: client, endpoint: e, count: count, inflight: Int(option("--inflight") ?? "256") ?? 256, delegate: d)
    let (user1, sys1) = cpuSplit()
    let setupCPU = (user1 - user0) + (sys1 - sys0)
    sleep(UInt32(option("--hold") ?? "3") ?? 3)
    let rss = rssKiB("VmRSS:")
    let peak = rssKiB("VmHWM:")
    let opened = d.lock.withLock { d.opened }
    let failures = d.lock.withLock { d.failed }
    let perConn = Double(peak - baseline) * 1024 / Double(max(1, opened))
    print(String(format: "idle: %d/%d connections open in %.2f s (%.0f connections/s); client CPU %.2f s (%.0f us per connection set-up: user %.0f, system %.0f)",
                 opened, count, seconds, Double(opened) / seconds, setupCPU, setupCPU / Double(max(1, opened)) * 1e6,
                 (user1 - user0) / Double(max(1, opened)) * 1e6, (sys1 - sys0) / Double(max(1, opened)) * 1e6))
    print(String(format: "memory: baseline %d KiB, rss %d KiB, peak %d KiB -> %.0f bytes (%.2f KiB) per idle connection",
                 baseline, rss, peak, perConn, perConn / 1024))
    if !failures.isEmpty { print("failures: \(failures)") }
    let conns = d.lock.withLock { d.connections }
    for c in conns { c.close() }
    let deadline = Date().addingTimeInterval(30)
    while d.lock.withLock({ d.closed }) < opened && Date() < deadline { usleep(10_000) }
    print("closed: \(d.lock.withLock { d.closed }) (non-normal: \(d.lock.withLock { d.failed }))")

case "heartbeat":
    let count = Int(option("--connections") ?? "1000") ?? 1000
    let rounds = Int(option("--rounds") ?? "20") ?? 20
    let client = try makeClient()
    let e = try endpoint(client)
    let d = BenchDelegate()
    _ = openAll(client: client, endpoint: e, count: count, inflight: 256, delegate: d)
    let conns = d.lock.withLock { d.connections }
    d.lock.withLock { d.roundsLeft = Array(repeating: rounds, count: count) }
    let total = conns.count * rounds
    let (u0, s0) = cpuSplit()
    let t0 = NIODeadline.now()
    for c in conns { c.send(text: d.payload) }
    while d.lock.withLock({ d.echoes }) < total { usleep(2000) }
    let wall = Double((NIODeadline.now() - t0).nanoseconds) / 1e9
    let (u1, s1) = cpuSplit()
    let cpu = (u1 - u0) + (s1 - s0)
    print(String(format: "heartbeat: %d round trips over %d connections in %.2f s wall; client CPU %.3f s -> %.2f us per round trip (user %.2f us, system %.2f us)",
                 total, conns.count, wall, cpu, cpu / Double(total) * 1e6, (u1 - u0) / Double(total) * 1e6, (s1 - s0) / Double(total) * 1e6))
    for c in conns { c.close() }
    let deadline = Date().addingTimeInterval(30)
    while d.lock.withLock({ d.closed }) < conns.count && Date() < deadline { usleep(10_000) }

case "paced":
    let count = Int(option("--connections") ?? "15000") ?? 15000
    let interval = Int64(option("--interval-ms") ?? "30000") ?? 30000
    let seconds = Int(option("--seconds") ?? "60") ?? 60
    let client = try makeClient()
    let e = try endpoint(client)
    let d = BenchDelegate()
    _ = openAll(client: client, endpoint: e, count: count, inflight: 256, delegate: d)
    let conns = d.lock.withLock { d.connections }
    d.lock.withLock { d.roundsLeft = Array(repeating: 0, count: count) }
    // Per loop, its connections in a fixed order; each tick sends the ones due since the start.
    var byLoop: [ObjectIdentifier: (loop: EventLoop, conns: [WSConnection])] = [:]
    for c in conns { byLoop[ObjectIdentifier(c.eventLoop), default: (c.eventLoop, [])].conns.append(c) }
    let start = NIODeadline.now()
    var tasks: [RepeatedTask] = []
    for (_, entry) in byLoop {
        let mine = entry.conns
        var sent = 0
        tasks.append(entry.loop.scheduleRepeatedTask(initialDelay: .milliseconds(20), delay: .milliseconds(20)) { _ in
            let elapsed = (NIODeadline.now() - start).nanoseconds
            let due = Int(elapsed / 1_000_000 * Int64(mine.count) / interval)
            while sent < due {
                let c = mine[sent % mine.count]
                d.lock.withLock { d.roundsLeft[c.tag] += 1 }   // the echo ends it: no re-send
                c.send(text: d.payload)
                sent += 1
            }
        })
    }
    sleep(10)
    let (u0, s0) = cpuSplit()
    let e0 = d.lock.withLock { d.echoes }
    sleep(UInt32(max(1, seconds - 10)))
    let (u1, s1) = cpuSplit()
    let e1 = d.lock.withLock { d.echoes }
    for t in tasks { t.cancel() }
    let trips = e1 - e0, cpu = (u1 - u0) + (s1 - s0)
    print(String(format: "paced: %d connections, a heartbeat each every %.0f s: %d round trips in %d s; client CPU %.2f s -> %.2f us per round trip (user %.2f us, system %.2f us)",
                 conns.count, Double(interval) / 1000, trips, seconds - 10, cpu, cpu / Double(max(1, trips)) * 1e6,
                 (u1 - u0) / Double(max(1, trips)) * 1e6, (s1 - s0) / Double(max(1, trips)) * 1e6))
    for c in conns { c.close() }
    let deadline = Date().addingTimeInterval(30)
    while d.lock.withLock({ d.closed }) < conns.count && Date() < deadline { usleep(10_000) }

default:
    print("usage: WSClientBench server|idle|heartbeat|paced … (see the comment at the top of main.swift)")
    exit(2)
}
