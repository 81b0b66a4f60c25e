import ArgumentParser
import DeviceModel
import FleetSim
import Foundation
import Logging
import ReferenceBackend
import ServiceLifecycle

/// `fleetsim calibrate`: the backend model's costs measured on a real backend (wiring only).
struct CalibrateCommand: AsyncParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure a backend's handshake and heartbeat costs and write a backend-model fragment.",
        discussion: """
        Opens a few real WebSocket connections, one at a time (low load: service time, not queueing), \
        to --target, or to the embedded reference backend when no target is given (seeded with --rows \
        devices, scanning for --scan-firmware). Measures hello→welcome per firmware, heartbeat→ack and \
        the ping→pong round trip, and prints a YAML fragment of backend.database costs (indexed_cost, \
        rows, scan_cost_per_row, heartbeat_cost) with the --set arguments that apply it to a scenario.
        """)

    @Option(name: .long, help: ArgumentHelp("The backend's device endpoint, e.g. ws://host:8080/device (default: the embedded reference backend).", valueName: "url"))
    var target: String?

    @Option(name: .long, help: ArgumentHelp("Rows of the target's devices table (the embedded backend is seeded with this many; default 100000).", valueName: "n"))
    var rows: Int?

    @Option(name: .customLong("indexed-firmware"), help: ArgumentHelp("A firmware whose lookup is indexed.", valueName: "version"))
    var indexedFirmware = "3.8.0-b2"

    @Option(name: .customLong("scan-firmware"), help: ArgumentHelp("A firmware whose lookup scans the table (embedded backend: scan for this version and above).", valueName: "version"))
    var scanFirmware = "3.8.0-b3"

    @Option(name: .long, help: ArgumentHelp("Measured connections per firmware.", valueName: "n"))
    var samples = 20

    @Option(name: .shortAndLong, help: ArgumentHelp("Also write the fragment to this file.", valueName: "file"))
    var output: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...10_000).contains(samples) else { throw ValidationError("--samples: expected 1 to 10000, got \(samples)") }
        if let rows, rows < 0 { throw ValidationError("--rows: expected a whole number >= 0, got \(rows)") }
        for (flag, v) in [("--indexed-firmware", indexedFirmware), ("--scan-firmware", scanFirmware)] where FirmwareVersion(v) == nil {
            throw ValidationError("\(flag): expected a firmware version like 3.8.0-b3, got \"\(v)\"")
        }
    }

    func run() async throws {
        // Ctrl-C stops the calibration before its next connection (and the embedded backend cleanly).
        let latch = Signals.stopLatch()
        var services: [any Service] = []
        let url: String
        if let target {
            url = target
        } else {
            var config = ReferenceBackendConfiguration()
            config.rows = rows ?? 100_000
            config.lookup = try LookupPolicy(parsing: "scan:>=\(scanFirmware)")
            let backend = ReferenceBackend(configuration: config, logger: Logger(label: "fleetsim.backend"))
            let port: Int
            do { port = try await backend.start().port } catch {
                throw CLIFailure(message: "fleetsim calibrate: cannot start the reference backend: \(error)", code: 3)
            }
            services.append(ReferenceBackendService(backend))
            url = "ws://127.0.0.1:\(port)/device"
            FileHandle.standardError.write(Data("calibrate: embedded reference backend on \(url), \(config.rows) rows, lookup \(config.lookup)\n".utf8))
        }
        let calibration = CalibrationService(url: url, firmwares: [indexedFirmware, scanFirmware], samples: samples,
                                             logger: Logger(label: "fleetsim.calibrate"))
        // The backend first: the group shuts services down in reverse order, so it outlives the calibration.
        services.append(calibration)
        try await Lifecycle.run(services, until: latch, logger: Logger(label: "fleetsim.lifecycle"))
        let result: Calibrator.Result
        switch calibration.result {
        case .success(let r)?: result = r
        case .failure(let error)?: throw CLIFailure(message: "fleetsim calibrate: \(error)", code: 3)
        case nil: throw CLIFailure(message: "fleetsim calibrate: interrupted before it started", code: 3)
        }
        let fragment = result.fragment(rows: rows ?? (target == nil ? 100_000 : nil), indexed: indexedFirmware, scan: scanFirmware)
        print(fragment, terminator: "")
        if let output { try writeFile(output, Data(fragment.utf8)) }
    }
}
