// `metrics-ops`: the metric updates one welcomed handshake makes, on their own, in a loop: the
// hand-written metrics the backend had (one NIOLock around dictionaries and a bucket array, copied
// from BackendMetrics.swift as it was before swift-prometheus) against the same updates on a
// swift-prometheus registry, made the way BackendMetrics makes them now. CPU time of this thread.
import Foundation
import NIOConcurrencyHelpers
import Prometheus

enum Outcome: String, CaseIterable { case welcome, registered, blocked, admission, abandoned, failed, queueTimeout = "queue_timeout" }
enum Kind: String, CaseIterable { case indexed, scan, register, touch }
let bucketBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/// The backend's metrics before swift-prometheus (the parts a handshake touches), as they were.
final class HandWrittenMetrics: @unchecked Sendable {
    struct Histogram {
        var buckets = [UInt64](repeating: 0, count: bucketBounds.count)
        var count: UInt64 = 0
        var sum: Double = 0
        mutating func record(_ seconds: Double) {
            count += 1; sum += seconds
            if let i = bucketBounds.firstIndex(where: { seconds <= $0 }) { buckets[i] += 1 }
        }
    }
    struct State {
        var openConnections = 0
        var pendingHandshakes = 0
        var handshakes = [Outcome: UInt64]()
        var queries = [Kind: Histogram]()
        var upgrades: UInt64 = 0
    }
    private let lock = NIOLock()
    private var state = State()
    func handshake(_ outcome: Outcome) { lock.withLock { state.handshakes[outcome, default: 0] += 1 } }
    func query(_ kind: Kind, seconds: Double) { lock.withLock { state.queries[kind, default: Histogram()].record(seconds) } }
    func connectionOpened() { lock.withLock { state.openConnections += 1; state.upgrades += 1 } }
    func connectionClosed() { lock.withLock { state.openConnections -= 1 } }
    func beginPending(limit: Int?) -> Bool {
        lock.withLock {
            if let limit, state.pendingHandshakes >= limit { return false }
            state.pendingHandshakes += 1
            return true
        }
    }
    func endPending() { lock.withLock { state.pendingHandshakes -= 1 } }
    var pendingHandshakes: Int { lock.withLock { state.pendingHandshakes } }
}

/// The same updates on a swift-prometheus registry, as BackendMetrics makes them.
final class RegistryMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let connectionsOpen: Gauge
    let upgrades: Counter
    let handshakes: [Outcome: Counter]
    let queries: [Kind: ValueHistogram]
    private let pending = NIOLockedValueBox(0)
    init() {
        func name(_ n: String) -> MetricNameDescriptor { MetricNameDescriptor(metricName: n, unitName: "", helpText: n) }
        let registry = self.registry
        connectionsOpen = registry.makeGauge(descriptor: name("connections_open"))
        upgrades = registry.makeCounter(descriptor: name("upgrades_total"))
        handshakes = Dictionary(uniqueKeysWithValues: Outcome.allCases.map {
            ($0, registry.makeCounter(descriptor: name("handshakes_total"), labels: [("outcome", $0.rawValue)]))
        })
        queries = Dictionary(uniqueKeysWithValues: Kind.allCases.map {
            ($0, registry.makeValueHistogram(descriptor: name("query_seconds"), labels: [("kind", $0.rawValue)], buckets: bucketBounds))
        })
    }
    func handshake(_ outcome: Outcome) { handshakes[outcome]!.increment() }
    func query(_ kind: Kind, seconds: Double) { queries[kind]!.record(seconds) }
    func connectionOpened() { connectionsOpen.increment(); upgrades.increment() }
    func connectionClosed() { connectionsOpen.decrement() }
    func beginPending(limit: Int?) -> Bool {
        pending.withLockedValue {
            if let limit, $0 >= limit { return false }
            $0 += 1
            return true
        }
    }
    func endPending() { pending.withLockedValue { $0 -= 1 } }
    var pendingHandshakes: Int { pending.withLockedValue { $0 } }
}

/// Nanoseconds of this thread's CPU time per handshake's worth of updates (admission reads the
/// pending count, the upgrade opens a connection, the hello waits for its lookup, the lookup is
/// timed, the welcome is counted, the connection closes).
@inline(never)
func handWrittenHandshakes(_ m: HandWrittenMetrics, _ n: Int) -> Double {
    let start = threadCPUSeconds()
    var sink = 0
    for i in 0..<n {
        sink &+= m.pendingHandshakes
        m.connectionOpened()
        _ = m.beginPending(limit: nil)
        m.query(.indexed, seconds: 0.00001 * Double(i & 63))
        m.endPending()
        m.handshake(.welcome)
        m.connectionClosed()
    }
    precondition(sink >= 0)
    return (threadCPUSeconds() - start) / Double(n) * 1e9
}

@inline(never)
func registryHandshakes(_ m: RegistryMetrics, _ n: Int) -> Double {
    let start = threadCPUSeconds()
    var sink = 0
    for i in 0..<n {
        sink &+= m.pendingHandshakes
        m.connectionOpened()
        _ = m.beginPending(limit: nil)
        m.query(.indexed, seconds: 0.00001 * Double(i & 63))
        m.endPending()
        m.handshake(.welcome)
        m.connectionClosed()
    }
    precondition(sink >= 0)
    return (threadCPUSeconds() - start) / Double(n) * 1e9
}

func metricsOps(iterations: Int, runs: Int) {
    let old = HandWrittenMetrics(), new = RegistryMetrics()
    _ = handWrittenHandshakes(old, 10_000); _ = registryHandshakes(new, 10_000)  // warm up
    var a: [Double] = [], b: [Double] = []
    for _ in 0..<runs {
        a.append(handWrittenHandshakes(old, iterations))
        b.append(registryHandshakes(new, iterations))
    }
    func median(_ x: [Double]) -> Double { let s = x.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
    print("hand-written ns per handshake: " + a.map { String(format: "%.1f", $0) }.joined(separator: " "))
    print("swift-prometheus ns per handshake: " + b.map { String(format: "%.1f", $0) }.joined(separator: " "))
    print(String(format: "RESULT handwritten_ns %.1f prometheus_ns %.1f difference_ns %.1f", median(a), median(b), median(b) - median(a)))
}
