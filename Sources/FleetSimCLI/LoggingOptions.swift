import ArgumentParser
import Logging

/// `--log-level`, for the commands whose libraries log (`run`, `backend`, `calibrate`). Every
/// command bootstraps the same one handler: swift-log's stream handler on standard error, at
/// `warning` unless the flag says otherwise. Logs are for operators; reports and progress lines
/// are the commands' own output and never go through them.
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"),
            help: ArgumentHelp("Log messages at this level and above to standard error: trace, debug, info, notice, warning, error or critical.",
                               valueName: "level"))
    var level: Logger.Level = .warning
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A command that takes `--log-level`.
protocol LoggingCommand {
    var logging: LoggingOptions { get }
}

enum Log {
    /// Installs the process's one log handler. Called once, by `Main`, after parsing.
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
