import ArgumentParser
import DeviceModel
import FleetSim
import Foundation
import Logging
import ServiceLifecycle

/// `fleetsim calibrate`: a scenario's backend model measured on the backend it runs against
/// (wiring only).
struct CalibrateCommand: AsyncParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure the backend a scenario runs against and write the scenario back calibrated.",
        discussion: """
        Reads the scenario's profiles (each group's lookup and protocol) and its target, or starts \
        the embedded reference backend as `fleetsim run` would. At low load, one connection at a \
        time: each profile's handshake (hello → welcome over the ping → pong round trip) and the \
        heartbeat's cost where the backend does the work (a reference backend's last_seen \
        flushes, read from its /metrics). Then the backend's memory per connection (connections \
        held open) and, under load, the database queries per second it sustains and its memory \
        per pending handshake (from /metrics). Wall-clock figures × the scenario's time_scale \
        are scenario time. Writes the scenario with backend.database and backend.gateways costs \
        replaced, every comment kept, and a comment block saying what was measured, when and \
        from how many samples: to -o FILE, else standard output. Exit 3 when the backend cannot \
        be measured.
        """)

    @Argument(help: "The scenario whose backend to measure.")
    var scenario: String

    @Option(name: .long, help: ArgumentHelp("The backend's device endpoint, e.g. ws://host:8080/device (default: the scenario's target, else the embedded reference backend). Its /metrics come from the scenario's observe: list.", valueName: "url"))
    var target: String?

    @Option(name: .long, help: ArgumentHelp("Measured connections per profile.", valueName: "n"))
    var samples = 20

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a scenario field before measuring (repeatable).", valueName: "path=value"))
    var overrides: [String] = []

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the calibrated scenario to this file (default: standard output).", valueName: "file"))
    var output: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...10_000).contains(samples) else { throw ValidationError("--samples: expected 1 to 10000, got \(samples)") }
        if let target, !(target.hasPrefix("ws://") || target.hasPrefix("wss://")) {
            throw ValidationError("--target: expected a ws:// or wss:// URL, got \"\(target)\"")
        }
    }

    func run() async throws {
        let s = try loadScenario(scenario, overrides: overrides)
        let source: String
        do { source = try String(contentsOfFile: scenario, encoding: .utf8) } catch {
            throw CLIFailure.input("\(scenario): cannot read: \(error.localizedDescription)")
        }
        // Ctrl-C stops the calibration before its next connection (and the embedded backend cleanly).
        let latch = Signals.stopLatch()
        var options = ScenarioCalibrator.Options()
        options.samples = samples
        let target = self.target ?? s.live.target
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        FileHandle.standardError.write(Data("calibrate \(s.name): \(target ?? "the embedded reference backend"), \(samples) connections per profile, at ×\(s.live.timeScale)\n".utf8))
        let calibration = CalibrationService(scenario: s, target: target, executable: executable, options: options,
                                             logger: Logger(label: "fleetsim.calibrate"))
        try await Lifecycle.run([calibration], until: latch, logger: Logger(label: "fleetsim.lifecycle"))
        let result: ScenarioCalibrator.Result
        switch calibration.result {
        case .success(let r)?: result = r
        case .failure(let error)?: throw CLIFailure(message: "fleetsim calibrate: \(error)", code: 3)
        case nil: throw CLIFailure(message: "fleetsim calibrate: interrupted before it started", code: 3)
        }
        let values = CalibratedScenario.values(result, scenario: s)
        let text: String
        do { text = try CalibratedScenario.write(source: source, values: values, result: result, file: scenario) } catch {
            throw CLIFailure(message: "fleetsim calibrate: cannot write the calibrated scenario: \(error)", code: 3)
        }
        for v in values { FileHandle.standardError.write(Data("  \(v.path.joined(separator: ".")) = \(v.value)  (\(v.why))\n".utf8)) }
        if let output {
            try writeFile(output, Data(text.utf8))
            FileHandle.standardError.write(Data("Wrote \(output)\n".utf8))
        } else {
            print(text, terminator: "")
        }
    }
}
