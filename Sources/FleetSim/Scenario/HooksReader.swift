import DeviceModel

/// `hooks:`: how each timeline action reaches an external target (a mapping from action name to
/// `{http: "POST https://…", token_env: VAR, body: "…"}` or `{shell: "command"}`, with `timeout`).
extension ScenarioReader {
    static let hookKeys = ["http", "shell", "body", "token_env", "timeout"]
    static let hookMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    func hooks(_ value: ScenarioNode) throws -> [String: Scenario.Hook] {
        if value.isNull { return [:] }
        var hooks: [String: Scenario.Hook] = [:]
        let actions = Scenario.Hook.placeholders.map(\.action)
        for (action, keyMark, v) in try value.entries(what: "a mapping of timeline actions to hooks") {
            guard let names = Scenario.Hook.placeholders.first(where: { $0.action == action })?.names else {
                let deviceSide = ["add-devices", "drop-sessions", "dns-failure", "remove-devices", "power-off"].contains(action)
                throw value.context.error(deviceSide
                    ? "\(action) is carried out by the devices themselves and takes no hook"
                    : "no timeline action \"\(action)\" takes a hook; expected one of \(ScenarioNode.list(actions, quoted: false))",
                    at: v.path, mark: keyMark)
            }
            let m = try v.mapping(keys: ScenarioReader.hookKeys, what: "a hook ({http: \"POST URL\", token_env: VAR} or {shell: COMMAND})")
            let timeout = try m["timeout"]?.positiveDuration() ?? 30 * Time.second
            let call: Scenario.Hook.Call
            switch (m["http"], m["shell"]) {
            case (let h?, nil):
                let text = String(try h.string().trimmingWhitespace())
                let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                let method = parts.count == 2 ? parts[0].uppercased() : "POST"
                let url = parts.count == 2 ? parts[1] : text
                guard parts.count <= 2, ScenarioReader.hookMethods.contains(method) else {
                    throw h.error("expected \"METHOD URL\" (METHOD one of \(ScenarioReader.hookMethods.joined(separator: ", "))) or a URL, got \(h.got)")
                }
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw h.error("expected an http:// or https:// URL, got \"\(url)\"")
                }
                try checkPlaceholders(url, in: h, allowed: names, action: action)
                let body = try m["body"].map { b -> String in
                    let text = try b.text(expected: "a text")
                    try checkPlaceholders(text, in: b, allowed: names, action: action)
                    return text
                }
                var token: String?
                if let t = m["token_env"] {
                    let name = try t.string()
                    guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }), !name.first!.isNumber else {
                        throw t.error("expected an environment variable name (letters, digits, _), got \(t.got)")
                    }
                    token = name
                }
                call = .http(method: method, url: url, body: body, tokenVariable: token)
            case (nil, let sh?):
                let command = try sh.string()
                guard !command.trimmingWhitespace().isEmpty else { throw sh.error("expected a shell command") }
                try checkPlaceholders(command, in: sh, allowed: names, action: action)
                for key in ["body", "token_env"] where m[key] != nil {
                    throw value.context.error("applies to http hooks only (a shell command reads its own environment)",
                                              at: m[key]!.path, mark: m.keyMark(key))
                }
                call = .shell(command)
            case (nil, nil):
                throw v.error("a hook needs http: \"METHOD URL\" or shell: COMMAND")
            case (_?, _?):
                throw value.context.error("a hook is either http or shell, not both", at: m["shell"]!.path, mark: m.keyMark("shell"))
            }
            hooks[action] = Scenario.Hook(call: call, timeout: timeout)
        }
        return hooks
    }

    /// Every `{name}` in a template must be one the action fills (or `at`).
    private func checkPlaceholders(_ template: String, in value: ScenarioNode, allowed: [String], action: String) throws {
        for name in Scenario.Hook.placeholderNames(in: template) where !(allowed + ["at"]).contains(name) {
            throw value.error("{\(name)} is not a value of \(action); its hook can use \((allowed + ["at"]).map { "{\($0)}" }.joined(separator: ", "))")
        }
    }
}

extension Scenario.Hook {
    /// The `{name}` placeholders of a template (lowercase letters and `_` between braces; JSON
    /// braces such as `{"range": …}` are not placeholders).
    public static func placeholderNames(in template: String) -> [String] {
        var names: [String] = []
        var i = template.startIndex
        while let open = template[i...].firstIndex(of: "{") {
            let after = template.index(after: open)
            guard let close = template[after...].firstIndex(of: "}") else { break }
            let name = template[after..<close]
            if !name.isEmpty, name.allSatisfy({ $0 == "_" || ("a"..."z").contains($0) }) {
                names.append(String(name))
                i = template.index(after: close)
            } else {
                i = after
            }
        }
        return names
    }

    /// The template with each `{name}` replaced by `quote(values[name])` (unknown names are kept).
    public static func fill(_ template: String, _ values: [String: String], quote: (String) -> String = { $0 }) -> String {
        var out = ""
        var i = template.startIndex
        while let open = template[i...].firstIndex(of: "{") {
            out += template[i..<open]
            let after = template.index(after: open)
            guard let close = template[after...].firstIndex(of: "}") else { i = open; break }
            let name = String(template[after..<close])
            if let v = values[name] {
                out += quote(v)
                i = template.index(after: close)
            } else {
                out += "{"
                i = after
            }
        }
        out += template[i...]
        return out
    }
}
