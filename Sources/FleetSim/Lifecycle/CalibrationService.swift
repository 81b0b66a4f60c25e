import Foundation
import Logging
import ServiceLifecycle

/// A calibration (`Calibrator.measure`) as a service of a swift-service-lifecycle `ServiceGroup`,
/// typically beside a `ReferenceBackendService` that it measures. `run()` measures on a thread of
/// its own and returns when done, which ends the group; a graceful shutdown stops it before its
/// next connection. The measurement, or why there is none, is `result` once `run()` has returned.
public final class CalibrationService: Service, @unchecked Sendable {  // `outcome` is protected by `lock`; the rest is immutable
    public let url: String
    public let firmwares: [String]
    public let samples: Int
    public let logger: Logger
    private let lock = NSLock()
    private var outcome: Result<Calibrator.Result, Error>?

    public init(url: String, firmwares: [String], samples: Int, logger: Logger = Logger(label: "fleetsim.calibrate")) {
        self.url = url
        self.firmwares = firmwares
        self.samples = samples
        self.logger = logger
    }

    public var result: Result<Calibrator.Result, Error>? { lock.withLock { outcome } }

    public func run() async throws {
        let (url, firmwares, samples, logger) = (self.url, self.firmwares, self.samples, self.logger)
        let result = await StoppableWork.run(threadName: "fleetsim-calibrate") { shouldStop in
            logger.info("calibrating", metadata: ["target": "\(url)", "samples": "\(samples)"])
            return try Calibrator.measure(url: url, firmwares: firmwares, samples: samples, shouldStop: shouldStop)
        }
        lock.withLock { outcome = result }
    }
}
