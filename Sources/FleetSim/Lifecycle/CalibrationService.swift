import Foundation
import Logging
import ServiceLifecycle

/// A scenario's calibration (`ScenarioCalibrator.measure`) as a service of a
/// swift-service-lifecycle `ServiceGroup`. `run()` starts the embedded backend when there is no
/// target (as `fleetsim run` would, from the scenario), measures on a thread of its own and
/// returns when done, which ends the group; a graceful shutdown stops it before its next
/// connection (the embedded backend stops with it). The measurement, or why there is none, is
/// `result` once `run()` has returned.
public final class CalibrationService: Service, @unchecked Sendable {  // `outcome` is protected by `lock`; the rest is immutable
    public let scenario: Scenario
    /// The device endpoint; nil: the embedded reference backend, started from the scenario.
    public let target: String?
    /// The `fleetsim` executable, to start the embedded backend with.
    public let executable: String
    public let options: ScenarioCalibrator.Options
    public let logger: Logger
    private let lock = NSLock()
    private var outcome: Result<ScenarioCalibrator.Result, Error>?

    public init(scenario: Scenario, target: String?, executable: String, options: ScenarioCalibrator.Options = .init(),
                logger: Logger = Logger(label: "fleetsim.calibrate")) {
        self.scenario = scenario
        self.target = target
        self.executable = executable
        self.options = options
        self.logger = logger
    }

    public var result: Result<ScenarioCalibrator.Result, Error>? { lock.withLock { outcome } }

    public func run() async throws {
        let (scenario, target, executable, options, logger) = (self.scenario, self.target, self.executable, self.options, self.logger)
        let result = await StoppableWork.run(threadName: "fleetsim-calibrate") { shouldStop in
            let timeScale = scenario.live.timeScale
            var url = target ?? ""
            var metrics = scenario.live.observe
            var backend: EmbeddedBackend?
            defer { backend?.stop() }
            if target == nil {
                let folder = NSTemporaryDirectory() + "fleetsim-calibrate-\(getpid())"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: folder) }
                let b = try EmbeddedBackend.start(executable: executable, scenario: scenario, plan: FleetPlan(scenario: scenario),
                                                  timeScale: timeScale, folder: folder, logLevel: logger.logLevel)
                backend = b
                url = b.endpoints.deviceURL
                if metrics.isEmpty { metrics = b.endpoints.processes.map { $0.controlURL + "/metrics" } }
            }
            logger.info("calibrating", metadata: ["target": "\(url)", "samples": "\(options.samples)"])
            return try ScenarioCalibrator.measure(scenario, url: url, metrics: metrics, timeScale: timeScale,
                                                  options: options, shouldStop: shouldStop)
        }
        lock.withLock { outcome = result }
    }
}
