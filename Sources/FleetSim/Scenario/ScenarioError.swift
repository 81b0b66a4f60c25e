/// Why a scenario could not be loaded, said the way a compiler says it: where, which field, what
/// was expected and what was found, on one line.
///
///     rollout.yaml:12:14: fleet[1].heartbeat: expected a duration like "30s", got "30"
///     --set fleet[9].count=5: fleet[9]: there is no such group (the scenario has 3)
///
/// The CLI prints `description` and exits with status 2; nothing else (no stack trace, no
/// decoding dump) is shown to the user.
public struct ScenarioError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Where the offending text was written.
    public enum Origin: Equatable, Sendable {
        /// A file, with a 1-based line and column when known.
        case file(String, line: Int?, column: Int?)
        /// A `--set path=value` argument, as the user typed it.
        case override(String)
    }

    public var origin: Origin
    /// The field, written like a `--set` path (`fleet[1].heartbeat`); nil for the whole document
    /// or for errors that are not about one field (YAML syntax).
    public var field: String?
    /// What was expected and what was found.
    public var message: String

    public init(origin: Origin, field: String? = nil, message: String) {
        self.origin = origin
        self.field = field
        self.message = message
    }

    /// `file:line:column` or `--set argument`.
    public var location: String {
        switch origin {
        case .file(let file, let line?, let column?): return "\(file):\(line):\(column)"
        case .file(let file, let line?, nil): return "\(file):\(line)"
        case .file(let file, _, _): return file
        case .override(let argument): return "--set \(argument)"
        }
    }

    public var description: String {
        if let field, !field.isEmpty { return "\(location): \(field): \(message)" }
        return "\(location): \(message)"
    }
}
