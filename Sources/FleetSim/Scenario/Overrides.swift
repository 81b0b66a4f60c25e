import Yams

/// One `--set path=value` argument, applied to the scenario's YAML tree before validation so that
/// its value goes through exactly the checks a value written in the file would.
///
/// Paths are dotted keys with list indexes, and a list of mappings can be addressed by an item's
/// `name`: `fleet[1].count`, `fleet.new-firmware.count`, `fleet[new-firmware].count`,
/// `profiles.legacy.reconnect.policy`, `seed`. A key missing from an existing mapping is added
/// (and then validated like any other key); a missing mapping on the way is created.
struct Override {
    enum Segment: Equatable {
        /// `.name`, or `[name]`: a mapping key, or the list item with that `name`.
        case key(String)
        /// `[3]`: a list index.
        case index(Int)
    }

    let argument: String
    let segments: [Segment]
    let value: Node

    init(parsing argument: String) throws {
        self.argument = argument
        func fail(_ message: String) -> ScenarioError {
            ScenarioError(origin: .override(argument), message: message)
        }
        guard let equals = argument.firstIndex(of: "=") else {
            throw fail("expected path=value, like fleet[0].count=1000")
        }
        let pathText = argument[..<equals]
        let valueText = String(argument[argument.index(after: equals)...])
        guard !pathText.trimmingWhitespace().isEmpty else {
            throw fail("expected path=value, like fleet[0].count=1000; the path is empty")
        }
        self.segments = try Override.parsePath(Substring(pathText), fail: fail)
        self.value = try Override.parseValue(valueText, fail: fail)
    }

    private static func parsePath(_ text: Substring, fail: (String) -> ScenarioError) throws -> [Segment] {
        var segments: [Segment] = []
        var rest = text
        var expectKey = true
        while !rest.isEmpty {
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]") else {
                    throw fail("path \"\(text)\": \"[\" without a closing \"]\"")
                }
                var inside = rest[rest.index(after: rest.startIndex)..<close].trimmingWhitespace()
                if inside.count >= 2, let q = inside.first, q == "\"" || q == "'", inside.last == q {
                    inside = inside.dropFirst().dropLast()
                    segments.append(.key(String(inside)))
                } else if let i = Int(inside) {
                    guard i >= 0 else { throw fail("path \"\(text)\": a list index counts from 0, got \(i)") }
                    segments.append(.index(i))
                } else {
                    guard !inside.isEmpty else { throw fail("path \"\(text)\": empty \"[]\"") }
                    segments.append(.key(String(inside)))
                }
                rest = rest[rest.index(after: close)...]
                expectKey = false
            } else if rest.first == "." {
                guard !segments.isEmpty, !expectKey else { throw fail("path \"\(text)\": a key is missing before \".\"") }
                rest = rest.dropFirst()
                expectKey = true
                if rest.isEmpty { throw fail("path \"\(text)\": a key is missing after \".\"") }
            } else {
                guard expectKey else { throw fail("path \"\(text)\": expected \".\" or \"[\" after \"]\"") }
                let key = rest.prefix(while: { $0 != "." && $0 != "[" })
                segments.append(.key(String(key.trimmingWhitespace())))
                rest = rest[key.endIndex...]
                expectKey = false
            }
        }
        return segments
    }

    /// The value as a YAML scalar; `[...]`, `{...}` and quoted values are read as YAML flow text.
    private static func parseValue(_ text: String, fail: (String) -> ScenarioError) throws -> Node {
        let trimmed = text.trimmingWhitespace()
        guard let first = trimmed.first, "[{\"'".contains(first) else {
            return .scalar(.init(String(trimmed)))
        }
        do {
            return try Yams.compose(yaml: String(trimmed)) ?? .scalar(.init(""))
        } catch let error as YamlError {
            throw fail("the value is not valid YAML: \(YAMLSyntax.problem(of: error))")
        } catch {
            throw fail("the value is not valid YAML")
        }
    }

    /// Applies the override to `root` and returns the canonical path of the field it set
    /// (`fleet[1].count` for `fleet.new-firmware.count`), for error messages.
    func apply(to root: inout Node) throws -> FieldPath {
        try set(&root, segments[...], walked: .root)
    }

    private func fail(_ message: String, at path: FieldPath) -> ScenarioError {
        ScenarioError(origin: .override(argument), field: path.components.isEmpty ? nil : path.description, message: message)
    }

    private static func noun(for path: FieldPath) -> (one: String, whole: String) {
        switch path.components.last {
        case .key("fleet"): return ("group", "the scenario")
        case .key("timeline"): return ("event", "the timeline")
        default: return ("item", "the list")
        }
    }

    private func set(_ node: inout Node, _ segments: ArraySlice<Segment>, walked: FieldPath) throws -> FieldPath {
        guard let segment = segments.first else {
            node = value
            return walked
        }
        let rest = segments.dropFirst()
        switch (node, segment) {
        case (.mapping(var mapping), .key(let key)):
            let path = walked.key(key)
            if let i = mapping.firstIndex(where: { $0.key.scalar?.string == key }) {
                var child = mapping[i].value
                let canonical = try set(&child, rest, walked: path)
                mapping[i] = (key: mapping[i].key, value: child)
                node = .mapping(mapping)
                return canonical
            }
            // A new key: validated later like any key written in the file.
            if case .index(let i)? = rest.first {
                throw fail("there is no list here to take item [\(i)] from", at: path)
            }
            var child: Node = .mapping(.init([]))
            let canonical = try set(&child, rest, walked: path)
            mapping[Node(key)] = child
            node = .mapping(mapping)
            return canonical

        case (.sequence(var sequence), .index(let i)):
            let noun = Override.noun(for: walked)
            guard sequence.indices.contains(i) else {
                throw fail("there is no such \(noun.one) (\(noun.whole) has \(sequence.count))", at: walked.index(i))
            }
            var child = sequence[i]
            let canonical = try set(&child, rest, walked: walked.index(i))
            sequence[i] = child
            node = .sequence(sequence)
            return canonical

        case (.sequence(var sequence), .key(let name)):
            let names = sequence.map { $0.mapping?["name"]?.scalar?.string }
            guard let i = names.firstIndex(of: name) else {
                let noun = Override.noun(for: walked)
                let known = names.compactMap { $0 }
                var message = "there is no \(noun.one) named \"\(name)\""
                if let suggestion = Suggestion.closest(to: name, in: known) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else if !known.isEmpty {
                    message += " (\(noun.one)s: \(known.joined(separator: ", ")))"
                }
                throw fail(message, at: walked)
            }
            var child = sequence[i]
            let canonical = try set(&child, rest, walked: walked.index(i))
            sequence[i] = child
            node = .sequence(sequence)
            return canonical

        case (.mapping, .index(let i)):
            throw fail("is a mapping, not a list: address its keys by name, not [\(i)]", at: walked)

        case (.scalar(let scalar), _):
            let what: String
            switch segment {
            case .key(let k): what = "key \"\(k)\""
            case .index(let i): what = "item [\(i)]"
            }
            throw fail("is a single value (\"\(scalar.string)\"), so it has no \(what)", at: walked)

        case (.alias, _):
            throw fail("cannot be changed with --set (it is a YAML alias)", at: walked)
        }
    }
}
