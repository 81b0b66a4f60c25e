import Yams

/// A mapping checked for unknown keys, read key by key.
struct ScenarioMapping {
    let value: ScenarioNode
    private var values: [String: ScenarioNode] = [:]
    /// The keys present, in document order (canonical names, aliases resolved).
    private(set) var presentKeys: [String] = []
    private var keyMarks: [String: Mark] = [:]

    init(mapping: Node.Mapping, value: ScenarioNode, keys: [String], aliases: [String: String], ignoringPrefix: String?) throws {
        self.value = value
        for (keyNode, valueNode) in ScenarioMapping.flattened(mapping) {
            guard case .scalar(let k) = keyNode else {
                throw value.context.error("keys must be names, got \(ScenarioNode(node: keyNode, path: value.path, context: value.context).got)",
                                          at: value.path, mark: keyNode.mark)
            }
            if let prefix = ignoringPrefix, k.string.hasPrefix(prefix) { continue }
            let name = aliases[k.string] ?? k.string
            let keyPath = value.path.key(k.string)
            guard keys.contains(name) else {
                var message = "unknown key"
                if let suggestion = Suggestion.closest(to: k.string, in: keys) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else {
                    message += " (expected one of: \(keys.joined(separator: ", ")))"
                }
                throw value.context.error(message, at: keyPath, mark: keyNode.mark)
            }
            if values[name] != nil {
                // Only reachable through an alias (YAML itself rejects a repeated key).
                throw value.context.error("given twice (as \"\(name)\" and as an alias)", at: keyPath, mark: keyNode.mark)
            }
            values[name] = ScenarioNode(node: valueNode, path: value.path.key(name), context: value.context)
            presentKeys.append(name)
            keyMarks[name] = keyNode.mark
        }
    }

    /// The mapping's pairs with YAML merge keys (`<<: *defaults`) expanded; explicit keys win.
    static func flattened(_ mapping: Node.Mapping) -> [(Node, Node)] {
        var explicit: [(Node, Node)] = []
        var merged: [(Node, Node)] = []
        for (key, value) in mapping {
            if case .scalar(let k) = key, k.string == "<<", k.style == .plain || k.style == .any {
                switch value {
                case .mapping(let m): merged += flattened(m)
                case .sequence(let s): for case .mapping(let m) in s { merged += flattened(m) }
                default: explicit.append((key, value))
                }
            } else {
                explicit.append((key, value))
            }
        }
        let explicitKeys = Set(explicit.compactMap { $0.0.scalar?.string })
        var seen = Set<String>()
        let inherited = merged.filter { pair in
            guard let k = pair.0.scalar?.string else { return false }
            return !explicitKeys.contains(k) && seen.insert(k).inserted
        }
        return inherited + explicit
    }

    var path: FieldPath { value.path }
    var mark: Mark? { value.mark }

    subscript(key: String) -> ScenarioNode? {
        values[key]
    }

    func has(_ key: String) -> Bool { values[key] != nil }

    /// Where key `key` is written (for errors about the key itself rather than its value).
    func keyMark(_ key: String) -> Mark? { keyMarks[key] }

    func required(_ key: String) throws -> ScenarioNode {
        guard let v = values[key] else {
            throw value.context.error("missing required key \"\(key)\"", at: value.path, mark: value.mark)
        }
        return v
    }
}
