import Yams

/// Turns Yams' (libyaml's) syntax errors into one-line `file:line:column` messages.
enum YAMLSyntax {
    /// Parses `yaml` into a node tree with positions; nil for an empty document.
    static func compose(_ yaml: String, file: String) throws -> Node? {
        do {
            return try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw scenarioError(error, file: file)
        } catch {
            throw ScenarioError(origin: .file(file, line: nil, column: nil), message: "invalid YAML")
        }
    }

    static func scenarioError(_ error: YamlError, file: String) -> ScenarioError {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return ScenarioError(origin: .file(file, line: mark.line, column: mark.column),
                                 message: "invalid YAML: " + problem(of: error))
        case .reader(_, let offset, _, let yaml):
            let (line, column) = offset.map { position(ofCharacter: $0, in: yaml) } ?? (nil, nil)
            return ScenarioError(origin: .file(file, line: line, column: column), message: "invalid YAML: " + problem(of: error))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = ScenarioNode.list(duplicates, quoted: true)
            let message = duplicates.count == 1
                ? "key \(keys) is given more than once in this mapping (first here)"
                : "keys \(keys) are given more than once in this mapping (first here)"
            return ScenarioError(origin: .file(file, line: context.mark.line, column: context.mark.column), message: message)
        default:
            return ScenarioError(origin: .file(file, line: nil, column: nil), message: "invalid YAML: " + problem(of: error))
        }
    }

    /// The problem in a few words, with libyaml's context ("while scanning a simple key") and
    /// without the snippet that `YamlError.description` adds on further lines.
    static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
             .composer(let context, let problem, _, _):
            guard let context else { return problem }
            if problem.hasPrefix("but ") { return "\(context.text), \(problem)" }
            return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        case .reader(let problem, _, _, _):
            return problem
        case .duplicatedKeysInMapping(let duplicates, _):
            return "duplicate keys \(ScenarioNode.list(duplicates, quoted: true))"
        default:
            return String(describing: error).split(separator: "\n").first.map(String.init) ?? "unknown error"
        }
    }

    /// 1-based line and column of the character at `offset`.
    private static func position(ofCharacter offset: Int, in text: String) -> (Int?, Int?) {
        var line = 1, column = 1
        for (i, c) in text.enumerated() {
            if i == offset { break }
            if c == "\n" || c == "\r\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}
