import ArgumentParser
import Foundation

/// The `fleetsim` command: argument parsing and wiring only (DESIGN.md).
struct FleetSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetsim",
        abstract: "Simulate fleets of connected devices against a cloud backend, and report how it holds up.",
        discussion: """
        Exit codes: 0 ran and every threshold held; 1 ran and a threshold failed; \
        2 invalid input (nothing run); 3 the run could not complete (the partial report is written).
        """,
        subcommands: [SimulateCommand.self, RunCommand.self, ValidateCommand.self, ReportCommand.self, CompareCommand.self,
                       ExperimentCommand.self, BackendCommand.self, RolloutCheckCommand.self, CalibrateCommand.self])
}

/// Entry point: maps errors to the exit codes of DESIGN.md (argument errors are invalid input: 2).
@main
enum Main {
    static func main() {
        // Before any thread starts (the concurrency pool's included: hence a synchronous `main`), so
        // that every thread inherits the mask: SIGINT and SIGTERM then reach one watcher thread
        // (Signals.swift) instead of a thread that does not block them.
        Signals.blockTerminationSignals()
        Task.detached {
            await runCommandLine()
            exit(0)
        }
        // The main thread takes the signals; the command runs on the concurrency pool and ends the
        // process. (Nothing here uses the main actor or the main queue.)
        Signals.watchOnThisThread()
    }

    /// Off the main actor: the command and everything it starts run on the generic executor.
    nonisolated static func runCommandLine() async {
        do {
            let command = try FleetSimCommand.parseAsRoot()
            // One log handler for the process: standard error, at --log-level (default: warnings).
            Log.bootstrap(level: (command as? LoggingCommand)?.logging.level ?? .warning)
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                var synchronous = command
                try synchronous.run()
            }
        } catch let failure as CLIFailure {
            FileHandle.standardError.write(Data((failure.message + "\n").utf8))
            exit(failure.code)
        } catch {
            let code = FleetSimCommand.exitCode(for: error)
            if code == .success {
                print(FleetSimCommand.fullMessage(for: error))
                exit(0)
            }
            // One line: what is wrong and where; the usage is one `--help` away.
            var message = FleetSimCommand.message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            if message.hasPrefix("Error: ") { message = String(message.dropFirst(7)) }
            message = message.replacingOccurrences(of: "\n", with: " ")
            FileHandle.standardError.write(Data("fleetsim: \(message) (see fleetsim --help)\n".utf8))
            exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// A failure with a one-line message and an exit code.
struct CLIFailure: Error {
    var message: String
    var code: Int32

    static func input(_ message: String) -> CLIFailure { CLIFailure(message: message, code: 2) }
}
