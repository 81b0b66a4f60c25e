/// A field's address in a scenario, printed the way `--set` paths are written: `fleet[1].heartbeat`.
struct FieldPath: Hashable, CustomStringConvertible {
    enum Component: Hashable {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    static let root = FieldPath()

    func key(_ name: String) -> FieldPath { FieldPath(components: components + [.key(name)]) }
    func index(_ i: Int) -> FieldPath { FieldPath(components: components + [.index(i)]) }

    func hasPrefix(_ other: FieldPath) -> Bool {
        components.count >= other.components.count && Array(components.prefix(other.components.count)) == other.components
    }

    var description: String {
        var out = ""
        for component in components {
            switch component {
            case .key(let name): out += out.isEmpty ? name : ".\(name)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }
}
