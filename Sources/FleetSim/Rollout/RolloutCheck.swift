import DeviceModel
import Foundation
import LoadReport

/// The rollout check: for each seed, bisect the share of the rollout fleet on the candidate
/// firmware for the *stability* boundary (the largest share at which a quiet run stays healthy)
/// and the *recovery* boundary (the largest share at which the fleet also comes back after the
/// standard perturbation). Shares between the two are the metastable band: healthy on a quiet
/// day, unrecoverable after one bad event. The gate's safe share is the worst seed's recovery
/// boundary.
///
/// Every (seed, boundary) search is an independent chain of simulations; the chains run in
/// parallel on all cores, each `Simulation` on its own thread. Results depend only on the
/// scenario and the seeds, not on the scheduling.
public struct RolloutCheck: Sendable {
    public let scenario: Scenario
    public var seeds: [UInt64]
    public var precision: Double
    /// Threads to run simulations on (default: the active processors).
    public var threads: Int

    /// `scenario` must have a `rollout:` section.
    public init(scenario: Scenario, seeds: Int? = nil) {
        precondition(scenario.rollout != nil, "a rollout check needs the scenario's rollout section")
        self.scenario = scenario
        let n = seeds ?? scenario.rollout!.search.seeds
        self.seeds = (0..<UInt64(max(1, n))).map { scenario.seed &+ $0 }
        self.precision = scenario.rollout!.search.precision
        self.threads = ProcessInfo.processInfo.activeProcessorCount
    }

    public var rollout: Rollout { scenario.rollout! }

    /// One bisection: the largest healthy share of one kind for one seed.
    public struct Search: Sendable {
        public var kind: RolloutProbe.Kind
        public var seed: UInt64
        public var boundary: Double = 0
        public var firstUnhealthy: Double?
        public var probes: [RolloutReport.Probe] = []
    }

    /// Bisects on the calling thread. Shares are snapped to whole devices; 0% is assumed healthy
    /// and only simulated when every larger share failed (to tell "below the precision" from
    /// "the baseline itself is unhealthy").
    public func search(_ kind: RolloutProbe.Kind, seed: UInt64) -> Search {
        var result = Search(kind: kind, seed: seed)
        let size = max(1, scenario.rolloutFleetSize)
        func probe(_ share: Double) -> Bool {
            let p = RolloutProbe(kind: kind, share: share, seed: seed).run(scenario)
            result.probes.append(p)
            return p.healthy
        }
        if probe(1) {
            result.boundary = 1
            return result
        }
        var lo = 0.0, hi = 1.0
        while hi - lo > precision {
            let mid = Double(Int((((lo + hi) / 2) * Double(size)).rounded())) / Double(size)
            guard mid > lo, mid < hi else { break }
            if probe(mid) { lo = mid } else { hi = mid }
        }
        if lo == 0, !probe(0) { hi = 0 }
        result.boundary = lo
        result.firstUnhealthy = hi
        return result
    }

    /// Runs the whole check: both boundaries for every seed, in parallel.
    public func run() -> RolloutReport {
        let started = DispatchTime.now().uptimeNanoseconds
        let chains = seeds.flatMap { seed in RolloutProbe.Kind.allCases.map { (kind: $0, seed: seed) } }
        let searches = RolloutCheck.parallelMap(chains, threads: threads) { search($0.kind, seed: $0.seed) }
        var report = makeReport()
        let stability = searches.filter { $0.kind == .stability }
        // Recovery needs stability: a share that is not stable on a quiet day is not safe after a bad one.
        var recovery = searches.filter { $0.kind == .recovery }
        for i in recovery.indices {
            let stable = stability[i].boundary
            if recovery[i].boundary > stable {
                recovery[i].boundary = stable
                recovery[i].firstUnhealthy = stability[i].firstUnhealthy
            }
        }
        report.stability = RolloutCheck.boundary(stability)
        report.recovery = RolloutCheck.boundary(recovery)
        report.stabilityCause = RolloutCheck.cause(stability)
        report.recoveryCause = RolloutCheck.cause(recovery)
        let safe = report.recovery!.min
        report.safeShare = safe
        report.safe = rollout.planned * rollout.margin <= safe + 1e-12
        report.simulations = searches.reduce(0) { $0 + $1.probes.count }
        report.wallS = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return report
    }

    /// The report skeleton: the question, without answers.
    public func makeReport() -> RolloutReport {
        let h = rollout.health
        let health = RolloutReport.Health(
            onlineFraction: h.onlineFraction, windowS: Time.seconds(h.window ?? scenario.duration),
            perturbationAtS: Time.seconds(h.perturbationAt),
            perturbationDownS: Time.seconds(h.perturbationDown ?? scenario.backend.gateways.restart),
            recoverWithinS: Time.seconds(h.recoverWithin), holdS: Time.seconds(h.hold))
        return RolloutReport(scenario: scenario.name, fleetSize: scenario.rolloutFleetSize, candidate: candidateLabel,
                             baseline: rollout.baseline.map(groupLabel), planned: rollout.planned,
                             margin: rollout.margin, health: health, seeds: seeds, precision: precision)
    }

    var candidateLabel: String { groupLabel(rollout.candidate) }

    func groupLabel(_ name: String) -> String {
        guard let g = scenario.fleet.first(where: { $0.name == name }) else { return name }
        let lookup = scenario.profiles[g.profile]?.lookup.rawValue ?? "?"
        return "\(name) (firmware \(g.firmware), profile \(g.profile), \(lookup) lookup)"
    }

    static func boundary(_ searches: [Search]) -> RolloutReport.Boundary {
        RolloutReport.Boundary(perSeed: searches.map(\.boundary), firstUnhealthy: searches.map(\.firstUnhealthy),
                               probes: searches.map(\.probes))
    }

    /// The first resource to saturate in each seed's first unhealthy probe (the share just above
    /// the boundary), and the resource that came first in most seeds.
    static func cause(_ searches: [Search]) -> RolloutReport.Cause? {
        var first: [RolloutReport.Saturation] = []
        for s in searches {
            guard let above = s.firstUnhealthy,
                  let probe = s.probes.first(where: { !$0.healthy && abs($0.share - above) < 1e-9 }) else { continue }
            if let sat = probe.saturated { first.append(sat) }
        }
        guard !first.isEmpty else { return nil }
        var counts: [String: Int] = [:]
        for f in first { counts[f.resource, default: 0] += 1 }
        let resource = counts.max { ($0.value, $1.key) < ($1.value, $0.key) }!.key
        let example = first.first { $0.resource == resource }!
        return RolloutReport.Cause(resource: resource, seeds: counts[resource]!, ofSeeds: searches.count,
                                   detail: "at \(ReportFormat.duration(Time.from(seconds: example.tS))): \(example.detail)")
    }

    /// Maps on `threads` threads, taking work items in order; results in the order of `items`.
    public static func parallelMap<T: Sendable, R: Sendable>(_ items: [T], threads: Int,
                                                            _ body: @escaping @Sendable (T) -> R) -> [R] {
        guard !items.isEmpty else { return [] }
        let work = ParallelMapWork<R>(count: items.count)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, items.count))) { _ in
            while let i = work.takeIndex(limit: items.count) {
                work.set(i, body(items[i]))
            }
        }
        return work.values()
    }
}

/// The work `parallelMap`'s threads share, behind a lock: the index of the next item to take, and
/// the results, each written by its thread to the item's own slot.
final class ParallelMapWork<R>: @unchecked Sendable {  // every mutable field is protected by `lock`
    private var slots: [R?]
    private var counter = 0
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: R) {
        lock.lock(); slots[i] = value; lock.unlock()
    }

    func takeIndex(limit: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard counter < limit else { return nil }
        counter += 1
        return counter - 1
    }

    func values() -> [R] { slots.map { $0! } }
}
