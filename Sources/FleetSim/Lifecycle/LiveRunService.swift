import Foundation
import LoadReport
import Logging
import ServiceLifecycle

/// A live run as a service of a swift-service-lifecycle `ServiceGroup`. `run()` drives the
/// `LiveRunner` on a thread of its own (its coordinator blocks between intervals, and must not
/// hold a thread of the concurrency pool), and a graceful shutdown of the group, or cancellation,
/// stops it the way Ctrl-C does: every device closes, the report of what was measured is written
/// (`report.incomplete` says where it stopped). The report, or the error that kept the run from
/// starting (an unwritable folder, a backend that would not start), is `result` once `run()` has
/// returned: a failed run does not throw, so the group shuts down the other services gracefully.
public final class LiveRunService: Service, @unchecked Sendable {  // `outcome` is protected by `lock`; the rest is immutable
    public let scenario: Scenario
    public let options: LiveRunner.Options
    /// The fleet plan of `options.shard` (the devices this run drives).
    public let plan: FleetPlan
    public let logger: Logger
    private let status: (@Sendable (LiveRunner.Status) -> Void)?
    private let interval: (@Sendable (Report) -> Bool)?
    private let lock = NSLock()
    private var outcome: Result<Report, Error>?

    /// `status` and `interval` are `LiveRunner.run`'s callbacks; they run on the run's thread.
    public init(scenario: Scenario, options: LiveRunner.Options, logger: Logger = Logger(label: "fleetsim.live"),
                status: (@Sendable (LiveRunner.Status) -> Void)? = nil, interval: (@Sendable (Report) -> Bool)? = nil) {
        self.scenario = scenario
        self.options = options
        self.plan = FleetPlan(scenario: scenario, shard: options.shard)
        self.logger = logger
        self.status = status
        self.interval = interval
    }

    /// The run's report, or the error that kept it from running; nil until `run()` returns.
    public var result: Result<Report, Error>? { lock.withLock { outcome } }

    public func run() async throws {
        let (scenario, options, plan, logger, status, interval) = (self.scenario, self.options, self.plan, self.logger, self.status, self.interval)
        let result = await StoppableWork.run(threadName: "fleetsim-live") { shouldStop in
            try LiveRunner(scenario: scenario, options: options, plan: plan, logger: logger)
                .run(shouldStop: shouldStop, status: status.map { s in { s($0) } }, interval: interval.map { i in { i($0) } })
        }
        lock.withLock { outcome = result }
    }
}
