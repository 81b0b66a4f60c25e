import Yams

/// Where nodes came from, so that every error can say `file:line:column` or `--set argument`.
struct SourceContext {
    /// The scenario's path as the user gave it (used in messages and to resolve relative paths).
    var file: String
    /// Fields replaced by `--set`, in the order applied: errors at or below one point to it.
    var overrides: [(path: FieldPath, argument: String)] = []

    func origin(of path: FieldPath, mark: Mark?) -> ScenarioError.Origin {
        if let override = overrides.last(where: { path.hasPrefix($0.path) }) {
            return .override(override.argument)
        }
        return .file(file, line: mark?.line, column: mark?.column)
    }

    func error(_ message: String, at path: FieldPath, mark: Mark?) -> ScenarioError {
        ScenarioError(origin: origin(of: path, mark: mark), field: path.description, message: message)
    }
}
