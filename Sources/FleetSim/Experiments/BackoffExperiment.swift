import DeviceModel
import Foundation

/// The experiment of the AWS Architecture Blog post "Exponential Backoff And Jitter" (Marc Brooker,
/// 2015, https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), run with
/// FleetSim's own `ReconnectPolicy`: a check that our backoff formulas reproduce a published result.
///
/// The model is the post's (and its simulator's, aws-samples/aws-arch-backoff-simulator): N clients
/// start at time 0 and each wants to write one row once, with optimistic concurrency control. A
/// client reads the row's version, then writes it back with that version; the write succeeds only
/// if no other write succeeded between the read and the write reaching the server. A client whose
/// write failed sleeps for its policy's backoff and starts over with a new read. Every message
/// (request or reply) takes `|Normal(10 ms, 2 ms)|` on the network; the server itself is instant.
/// "Calls" counts writes (the work the post plots), "completion" is the time the last client learns
/// that its write succeeded.
///
/// Deterministic: a (seed, N, trial) triple fixes every random draw, and the same network stream
/// is used for each policy of one trial.
public enum BackoffExperiment {
    /// The five curves of the post, each expressed as one of our reconnect policies.
    public enum Strategy: String, Hashable, Sendable, CaseIterable {
        /// Retry at once (the post's first simulation): `ReconnectPolicy.constant` with 0 delay.
        case noBackoff = "no-backoff"
        /// Capped exponential backoff without jitter.
        case exponential
        case fullJitter = "full-jitter"
        case equalJitter = "equal-jitter"
        case decorrelatedJitter = "decorrelated-jitter"

        /// The name the post gives the curve.
        public var publishedName: String {
            switch self {
            case .noBackoff: "No backoff"
            case .exponential: "Exponential (no jitter)"
            case .fullJitter: "Full Jitter"
            case .equalJitter: "Equal Jitter"
            case .decorrelatedJitter: "Decorrelated Jitter"
            }
        }

        public func policy(base: Nanoseconds, cap: Nanoseconds) -> ReconnectPolicy {
            switch self {
            case .noBackoff: ReconnectPolicy(kind: .constant, base: 0, cap: 0)
            case .exponential: ReconnectPolicy(kind: .exponential, base: base, cap: cap)
            case .fullJitter: ReconnectPolicy(kind: .fullJitter, base: base, cap: cap)
            case .equalJitter: ReconnectPolicy(kind: .equalJitter, base: base, cap: cap)
            case .decorrelatedJitter: ReconnectPolicy(kind: .decorrelatedJitter, base: base, cap: cap)
            }
        }
    }

    /// The post's parameters.
    public struct Configuration: Hashable, Sendable {
        public var base: Nanoseconds
        public var cap: Nanoseconds
        /// Mean and standard deviation of one network hop ("a mean of 10ms and variance of 4ms").
        public var networkMean: Nanoseconds
        public var networkStandardDeviation: Nanoseconds
        /// The `attempt` our policy is asked for on a client's first retry. The published simulator
        /// counts failures from 1, so its first sleep is based on `base * 2` (10 ms), not `base`;
        /// 1 reproduces it, 0 is our own convention (`ReconnectPolicy` counts retries from 0).
        public var firstRetryAttempt: Int

        public init(base: Nanoseconds = 5 * Time.millisecond, cap: Nanoseconds = 2 * Time.second,
                    networkMean: Nanoseconds = 10 * Time.millisecond,
                    networkStandardDeviation: Nanoseconds = 2 * Time.millisecond,
                    firstRetryAttempt: Int = 1) {
            self.base = base
            self.cap = cap
            self.networkMean = networkMean
            self.networkStandardDeviation = networkStandardDeviation
            self.firstRetryAttempt = firstRetryAttempt
        }

        public static let published = Configuration()
    }

    /// One simulated contention: all clients of one trial under one strategy.
    public struct Outcome: Hashable, Sendable {
        /// Writes the server received (successful and conflicting).
        public var calls: Int
        /// When the last client received its success reply.
        public var completion: Nanoseconds
    }

    /// Averages over the trials of one (strategy, N) cell.
    public struct Row: Hashable, Sendable {
        public var strategy: Strategy
        public var clients: Int
        public var trials: Int
        public var meanCalls: Double
        public var meanCompletion: Nanoseconds
        /// Standard errors of the two means, to tell a difference from noise.
        public var callsStandardError: Double
        public var completionStandardError: Nanoseconds

        public var meanCompletionMilliseconds: Double { Double(meanCompletion) / Double(Time.millisecond) }
    }

    /// N = 10, 20, … 190, the client counts of the post's charts.
    public static let publishedClients = Array(stride(from: 10, through: 190, by: 10))

    /// Runs every strategy for every client count, `trials` times each, and averages.
    /// Rows come ordered by client count, then by strategy in `strategies` order.
    public static func run(clients: [Int] = publishedClients, strategies: [Strategy] = Strategy.allCases,
                           trials: Int = 100, seed: UInt64 = 1,
                           configuration: Configuration = .published) -> [Row] {
        precondition(trials > 0, "at least one trial")
        var rows: [Row] = []
        rows.reserveCapacity(clients.count * strategies.count)
        for n in clients {
            for strategy in strategies {
                var calls = Statistics(), completion = Statistics()
                for t in 0..<trials {
                    let o = simulate(strategy: strategy, clients: n, seed: trialSeed(seed, clients: n, trial: t),
                                     configuration: configuration)
                    calls.add(Double(o.calls))
                    completion.add(Double(o.completion))
                }
                rows.append(Row(strategy: strategy, clients: n, trials: trials, meanCalls: calls.mean,
                                meanCompletion: Nanoseconds(completion.mean.rounded()),
                                callsStandardError: calls.standardError,
                                completionStandardError: Nanoseconds(completion.standardError.rounded())))
            }
        }
        return rows
    }

    /// One trial: `clients` clients contend for one row until each has written once.
    public static func simulate(strategy: Strategy, clients: Int, seed: UInt64,
                                configuration: Configuration = .published) -> Outcome {
        var trial = OCCTrial(policy: strategy.policy(base: configuration.base, cap: configuration.cap),
                             clients: clients, seed: seed, configuration: configuration)
        return trial.run()
    }

    static func trialSeed(_ seed: UInt64, clients: Int, trial: Int) -> UInt64 {
        SeededRandom(seed: seed, stream: UInt64(clients) << 32 | UInt64(trial)).state
    }
}

// MARK: - The published findings

extension BackoffExperiment {
    /// A qualitative claim of the post, checked against our rows at one client count.
    public struct Finding: Hashable, Sendable {
        /// The post's words (quoted from its "Adding Jitter" and "Which approach" sections).
        public var published: String
        /// What our figures say, with the numbers.
        public var ours: String
        public var reproduced: Bool
    }

    /// The post's comparisons, checked at `clients` (the post quotes N = 100). Needs all five
    /// strategies at that client count in `rows`.
    public static func findings(_ rows: [Row], at clients: Int) -> [Finding] {
        func row(_ s: Strategy) -> Row? { rows.first { $0.clients == clients && $0.strategy == s } }
        guard let none = row(.noBackoff), let expo = row(.exponential), let full = row(.fullJitter),
              let equal = row(.equalJitter), let decorr = row(.decorrelatedJitter) else { return [] }
        let jittered = [full, equal, decorr]
        func calls(_ r: Row) -> String { String(format: "%.0f", r.meanCalls) }
        func ms(_ r: Row) -> String { String(format: "%.0f ms", r.meanCompletionMilliseconds) }
        func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f×", a / b) }
        let n = "N=\(clients)"

        return [
            Finding(published: "Capped exponential backoff without jitter \"helps a small amount, but doesn't solve the problem\".",
                    ours: "\(n): exponential \(calls(expo)) calls vs no backoff \(calls(none)) (\(ratio(expo.meanCalls, none.meanCalls))); full jitter \(calls(full))",
                    reproduced: expo.meanCalls < none.meanCalls && expo.meanCalls > 2 * full.meanCalls),
            Finding(published: "\"In the case with 100 contending clients, we've reduced our call count by more than half\" (full jitter vs exponential).",
                    ours: "\(n): full jitter \(calls(full)) vs exponential \(calls(expo)) calls (\(ratio(full.meanCalls, expo.meanCalls)))",
                    reproduced: full.meanCalls < 0.5 * expo.meanCalls),
            Finding(published: "\"The no-jitter exponential backoff approach is the clear loser. It not only takes more work, but also takes more time than the jittered approaches.\"",
                    ours: "\(n): exponential \(calls(expo)) calls, \(ms(expo)); jittered at most \(calls(jittered.max { $0.meanCalls < $1.meanCalls }!)) calls, \(ms(jittered.max { $0.meanCompletion < $1.meanCompletion }!))",
                    reproduced: jittered.allSatisfy { $0.meanCalls < expo.meanCalls && $0.meanCompletion < expo.meanCompletion }),
            Finding(published: "\"The number of calls is approximately the same for Full and Equal jitter, and higher for Decorrelated.\"",
                    ours: "\(n): full \(calls(full)), equal \(calls(equal)), decorrelated \(calls(decorr)) calls",
                    reproduced: abs(equal.meanCalls - full.meanCalls) <= 0.25 * full.meanCalls
                        && decorr.meanCalls > full.meanCalls && decorr.meanCalls > equal.meanCalls),
            Finding(published: "\"Equal Jitter is the loser. It does slightly more work than Full Jitter, and takes much longer.\"",
                    ours: "\(n): equal \(calls(equal)) calls, \(ms(equal)) vs full \(calls(full)) calls, \(ms(full))",
                    reproduced: equal.meanCalls > full.meanCalls && equal.meanCompletion > full.meanCompletion
                        && equal.meanCompletion > decorr.meanCompletion),
            Finding(published: "\"The Full Jitter approach uses less work, but slightly more time\" than Decorrelated Jitter.",
                    ours: "\(n): full \(calls(full)) calls, \(ms(full)) vs decorrelated \(calls(decorr)) calls, \(ms(decorr))",
                    reproduced: full.meanCalls < decorr.meanCalls && full.meanCompletion > decorr.meanCompletion),
        ]
    }
}

// MARK: - The simulation

/// One trial of the OCC contention as a discrete-event simulation. Per-client state lives in
/// arrays indexed by client; every client has exactly one message in flight, so the event heap
/// never holds more than N events.
private struct OCCTrial {
    private enum Kind: UInt8 { case readReachesServer, writeReachesServer }

    let policy: ReconnectPolicy
    let configuration: BackoffExperiment.Configuration
    private var network: SeededRandom
    private var random: [SeededRandom]
    /// The row version each client read, the failures it had, and its last backoff.
    private var versionRead: [Int]
    private var failures: [Int]
    private var previousDelay: [Nanoseconds]
    /// The engine's event heap: (time, insertion order), the client as the event's device.
    private var heap = OverflowHeap()
    private var seq: UInt32 = 0

    init(policy: ReconnectPolicy, clients: Int, seed: UInt64, configuration: BackoffExperiment.Configuration) {
        self.policy = policy
        self.configuration = configuration
        network = SeededRandom(seed: seed, stream: UInt64.max)
        random = (0..<clients).map { SeededRandom(seed: seed, stream: UInt64($0)) }
        versionRead = Array(repeating: 0, count: clients)
        failures = Array(repeating: 0, count: clients)
        previousDelay = Array(repeating: 0, count: clients)
    }

    mutating func run() -> BackoffExperiment.Outcome {
        var version = 0
        var calls = 0
        var completion: Nanoseconds = 0
        for c in 0..<random.count { push(at: hop(), client: c, .readReachesServer) }
        while heap.count > 0 {
            let e = heap.pop()
            let c = e.device
            switch Kind(rawValue: e.kind)! {
            case .readReachesServer:
                // The reply carries the version back; the client sends its write at once.
                versionRead[c] = version
                push(at: e.time + hop() + hop(), client: c, .writeReachesServer)
            case .writeReachesServer:
                calls += 1
                if versionRead[c] == version {
                    version += 1
                    completion = max(completion, e.time + hop())
                } else {
                    let replyArrives = e.time + hop()
                    let sleep = policy.delay(attempt: failures[c] + configuration.firstRetryAttempt,
                                             previous: previousDelay[c], random: &random[c])
                    failures[c] += 1
                    previousDelay[c] = sleep
                    push(at: replyArrives + sleep + hop(), client: c, .readReachesServer)
                }
            }
        }
        return .init(calls: calls, completion: completion)
    }

    /// One network hop: `|Normal(mean, sd)|` (Box–Muller), in whole nanoseconds.
    @inline(__always)
    private mutating func hop() -> Nanoseconds {
        let u1 = 1 - network.unit()             // (0, 1]: log stays finite
        let u2 = network.unit()
        let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        let d = Double(configuration.networkMean) + Double(configuration.networkStandardDeviation) * z
        return Nanoseconds(abs(d).rounded())
    }

    private mutating func push(at time: Nanoseconds, client: Int, _ kind: Kind) {
        seq &+= 1
        heap.push(SimEvent(time: time, seq: seq, kind: kind.rawValue, token: 0, device: UInt32(client), aux: 0))
    }
}

/// Mean and standard error, accumulated one value at a time (Welford).
private struct Statistics {
    private(set) var count = 0
    private(set) var mean = 0.0
    private var m2 = 0.0

    mutating func add(_ x: Double) {
        count += 1
        let d = x - mean
        mean += d / Double(count)
        m2 += d * (x - mean)
    }

    var standardError: Double {
        count > 1 ? (m2 / Double(count - 1) / Double(count)).squareRoot() : 0
    }
}
