import Yams

/// A node of the scenario's YAML tree together with its path, with typed readers that throw
/// `ScenarioError`s pointing at the node (the scalar readers are in `ScenarioNode+Scalars.swift`).
struct ScenarioNode {
    var node: Node
    var path: FieldPath
    var context: SourceContext

    var mark: Mark? { node.mark }

    func error(_ message: String) -> ScenarioError { context.error(message, at: path, mark: mark) }

    var isNull: Bool {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// How the node reads in a "got …" clause.
    var got: String {
        switch node {
        case .scalar(let s):
            if isNull { return "nothing" }
            return "\"\(s.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func expected(_ what: String) -> ScenarioError { error("expected \(what), got \(got)") }

    // MARK: Collections

    func sequence() throws -> [ScenarioNode] {
        guard case .sequence(let seq) = node else { throw expected("a list") }
        return seq.enumerated().map { ScenarioNode(node: $0.element, path: path.index($0.offset), context: context) }
    }

    /// A mapping whose keys must be among `keys` (or `aliases`, which name a key of `keys`).
    /// Keys starting with `ignoringPrefix` are skipped (the top level's `x-` keys, a place for anchors).
    func mapping(keys: [String], aliases: [String: String] = [:], ignoringPrefix: String? = nil,
                 what: String = "a mapping") throws -> ScenarioMapping {
        guard case .mapping(let m) = node else { throw expected(what) }
        return try ScenarioMapping(mapping: m, value: self, keys: keys, aliases: aliases, ignoringPrefix: ignoringPrefix)
    }

    /// A mapping with arbitrary names as keys (profiles, thresholds), in document order.
    func entries(what: String = "a mapping") throws -> [(key: String, keyMark: Mark?, value: ScenarioNode)] {
        guard case .mapping(let m) = node else { throw expected(what) }
        var out: [(key: String, keyMark: Mark?, value: ScenarioNode)] = []
        for (keyNode, valueNode) in ScenarioMapping.flattened(m) {
            guard case .scalar(let k) = keyNode else {
                throw context.error("keys must be names, got \(ScenarioNode(node: keyNode, path: path, context: context).got)",
                                    at: path, mark: keyNode.mark)
            }
            out.append((k.string, keyNode.mark, ScenarioNode(node: valueNode, path: path.key(k.string), context: context)))
        }
        return out
    }
}
