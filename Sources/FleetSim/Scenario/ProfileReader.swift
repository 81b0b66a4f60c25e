import DeviceModel
import Yams

/// Profiles with `extends`: each profile is read as written (every field optional, so that errors
/// point at the profile that wrote the value), then resolved against its parent chain.
extension ScenarioReader {
    static let profileKeys = ["extends", "lookup", "heartbeat", "ack_timeout", "handshake_timeout", "connect_timeout",
                              "session_lifetime", "reconnect", "protocol", "messages"]
    static let protocolKeys = ["hello", "heartbeat", "welcome", "ack", "reject"]
    static let reconnectKeys = ["policy", "min", "max", "delay", "base", "cap", "max_attempts", "reset_after",
                                "honour_retry_after"]

    /// A profile as written in the file.
    struct WrittenProfile {
        var name: String
        var value: ScenarioNode
        var extends: ScenarioNode?
        var lookup: Scenario.Lookup?
        var heartbeat: Nanoseconds?
        var ackTimeout: Nanoseconds?
        var handshakeTimeout: Nanoseconds?
        var connectTimeout: Nanoseconds?
        /// Outer nil: not written; inner nil: `none`.
        var sessionLifetime: Nanoseconds??
        var reconnect = WrittenReconnect()
        var deviceProtocol: DeviceProtocol?
        var messages: [Scenario.Message]?
    }

    /// A reconnect mapping as written: each value with where it was written.
    struct WrittenReconnect {
        var value: ScenarioNode?
        var fields: [String: (ScenarioNode, Any?)] = [:]

        func merged(over parent: WrittenReconnect) -> WrittenReconnect {
            var out = parent
            out.value = value ?? parent.value
            for (k, v) in fields { out.fields[k] = v }
            return out
        }

        func get<T>(_ key: String, as: T.Type) -> T? { fields[key].flatMap { $0.1 as? T } }
        func has(_ key: String) -> Bool { fields[key] != nil }
    }

    func profiles(_ value: ScenarioNode) throws -> [String: Scenario.Profile] {
        let entries = try value.entries(what: "a mapping of profile names to profiles")
        guard !entries.isEmpty else { throw value.error("expected at least one profile, got none") }
        var written: [String: WrittenProfile] = [:]
        var order: [String] = []
        for (name, _, profileValue) in entries {
            written[name] = try self.writtenProfile(name, profileValue)
            order.append(name)
        }
        var resolved: [String: Resolved] = [:]
        for name in order {
            _ = try resolve(name, written: written, resolved: &resolved, chain: [])
        }
        var out: [String: Scenario.Profile] = [:]
        for name in order {
            out[name] = try build(written[name]!, resolved[name]!)
        }
        return out
    }

    private func writtenProfile(_ name: String, _ value: ScenarioNode) throws -> WrittenProfile {
        var p = WrittenProfile(name: name, value: value)
        if value.isNull { return p }
        let m = try value.mapping(keys: ScenarioReader.profileKeys,
                                  what: "a profile (a mapping with lookup, heartbeat, reconnect, ...)")
        if let v = m["extends"] { _ = try v.string(); p.extends = v }
        if let v = m["lookup"] { p.lookup = Scenario.Lookup(rawValue: try v.choice(Scenario.Lookup.allCases.map(\.rawValue))) }
        if let v = m["heartbeat"] { p.heartbeat = try v.positiveDuration() }
        if let v = m["ack_timeout"] { p.ackTimeout = try v.positiveDuration() }
        if let v = m["handshake_timeout"] { p.handshakeTimeout = try v.positiveDuration() }
        if let v = m["connect_timeout"] { p.connectTimeout = try v.positiveDuration() }
        if let v = m["session_lifetime"] { p.sessionLifetime = .some(try v.durationOrNone()) }
        if let v = m["protocol"] { p.deviceProtocol = try deviceProtocol(v) }
        if let v = m["messages"] {
            // `{ call-join: 20m }`: a message kind and the mean time between two, while online.
            p.messages = try v.entries(what: "a mapping of message kinds to mean intervals, like { call-join: 20m }").map {
                Scenario.Message(kind: $0.key, every: try $0.value.positiveDuration())
            }
        }
        if let v = m["reconnect"] {
            let r = try v.mapping(keys: ScenarioReader.reconnectKeys, aliases: ["honor_retry_after": "honour_retry_after"])
            var w = WrittenReconnect(value: v)
            for key in r.presentKeys {
                let field = r[key]!
                let parsed: Any?
                switch key {
                case "policy": parsed = ReconnectPolicy.Kind(rawValue: try field.choice(ReconnectPolicy.Kind.allCases.map(\.rawValue)))
                case "max_attempts":
                    parsed = field.isNull || (try? field.text(expected: ""))?.lowercased() == "none"
                        ? nil : try field.integer(atLeast: 1)
                case "reset_after": parsed = try field.durationOrNone()
                case "honour_retry_after": parsed = try field.bool()
                default: parsed = try field.duration()
                }
                w.fields[key] = (field, parsed)
            }
            p.reconnect = w
        }
        return p
    }

    /// A profile with its parents' values filled in.
    struct Resolved {
        var lookup: Scenario.Lookup?
        var heartbeat: Nanoseconds?
        var ackTimeout: Nanoseconds?
        var handshakeTimeout: Nanoseconds?
        var connectTimeout: Nanoseconds?
        var sessionLifetime: Nanoseconds??
        var reconnect: WrittenReconnect
        var deviceProtocol: DeviceProtocol?
        var messages: [Scenario.Message]?
    }

    private func resolve(_ name: String, written: [String: WrittenProfile], resolved: inout [String: Resolved],
                         chain: [String]) throws -> Resolved {
        if let done = resolved[name] { return done }
        let p = written[name]!
        var r = Resolved(lookup: p.lookup, heartbeat: p.heartbeat, ackTimeout: p.ackTimeout,
                         handshakeTimeout: p.handshakeTimeout, connectTimeout: p.connectTimeout,
                         sessionLifetime: p.sessionLifetime, reconnect: p.reconnect, deviceProtocol: p.deviceProtocol,
                         messages: p.messages)
        if let extendsValue = p.extends {
            let parentName = try extendsValue.string()
            guard written[parentName] != nil else {
                throw extendsValue.error(ScenarioReader.unknown("profile", parentName, known: written.keys.sorted()))
            }
            if parentName == name || chain.contains(parentName) {
                let cycle = (chain + [name, parentName]).drop(while: { $0 != parentName })
                throw extendsValue.error("profiles extend each other in a cycle: \(cycle.joined(separator: " → "))")
            }
            let parent = try resolve(parentName, written: written, resolved: &resolved, chain: chain + [name])
            r.lookup = r.lookup ?? parent.lookup
            r.heartbeat = r.heartbeat ?? parent.heartbeat
            r.ackTimeout = r.ackTimeout ?? parent.ackTimeout
            r.handshakeTimeout = r.handshakeTimeout ?? parent.handshakeTimeout
            r.connectTimeout = r.connectTimeout ?? parent.connectTimeout
            r.sessionLifetime = r.sessionLifetime ?? parent.sessionLifetime
            r.reconnect = p.reconnect.merged(over: parent.reconnect)
            r.deviceProtocol = r.deviceProtocol ?? parent.deviceProtocol
            r.messages = r.messages ?? parent.messages
        }
        resolved[name] = r
        return r
    }

    private func build(_ p: WrittenProfile, _ r: Resolved) throws -> Scenario.Profile {
        let behaviour = DeviceBehaviour(heartbeat: r.heartbeat ?? 60 * Time.second,
                                        handshakeTimeout: r.handshakeTimeout ?? 10 * Time.second,
                                        ackTimeout: r.ackTimeout ?? 30 * Time.second,
                                        connectTimeout: r.connectTimeout ?? 10 * Time.second,
                                        reconnect: try reconnectPolicy(p, r.reconnect))
        var profile = Scenario.Profile(name: p.name, lookup: r.lookup ?? .indexed, behaviour: behaviour,
                                       sessionLifetime: r.sessionLifetime ?? nil)
        profile.protocolSpec = r.deviceProtocol
        profile.messages = r.messages ?? []
        return profile
    }

    /// `protocol:` — templates for what the device sends (`hello`, `heartbeat`: text with
    /// `{uuid}`, `{firmware}`, `{seq}`) and matchers for what it recognises (`welcome`, `ack`,
    /// `reject`: a pattern with `*` and `{seq}`, or `{type: NAME}` for a JSON object of that type).
    /// Unwritten parts keep the default protocol's.
    private func deviceProtocol(_ value: ScenarioNode) throws -> DeviceProtocol {
        let m = try value.mapping(keys: ScenarioReader.protocolKeys, what: "a protocol (hello, heartbeat, welcome, ack, reject)")
        var p = DeviceProtocol.default
        func template(_ key: String) throws -> MessageTemplate? {
            guard let v = m[key] else { return nil }
            let text = try v.string()
            do { return try MessageTemplate(parsing: text) } catch { throw v.error("\(error)") }
        }
        func matcher(_ key: String) throws -> ReplyMatcher? {
            guard let v = m[key] else { return nil }
            if let entries = try? v.entries(what: "") {
                guard entries.count == 1, entries[0].0 == "type" else {
                    throw v.error("expected a pattern like \"PONG {seq}\" or {type: NAME}")
                }
                return .jsonType(try entries[0].2.string())
            }
            let text = try v.string()
            guard !text.isEmpty else { throw v.error("expected a pattern like \"PONG {seq}\", got an empty one") }
            return .pattern(text)
        }
        if let t = try template("hello") { p.hello = t }
        if let t = try template("heartbeat") { p.heartbeat = t }
        if let r = try matcher("welcome") { p.welcome = r }
        if let r = try matcher("ack") { p.ack = r }
        if let r = try matcher("reject") { p.reject = r }
        return p
    }

    /// The keys each policy reads, besides policy, max_attempts, reset_after, honour_retry_after.
    static func policyKeys(_ kind: ReconnectPolicy.Kind) -> [String] {
        switch kind {
        case .random: return ["min", "max"]
        case .constant: return ["delay"]
        case .exponential, .fullJitter, .equalJitter, .decorrelatedJitter: return ["base", "cap"]
        }
    }

    /// Builds the policy. A key for another policy is an error where it is written, unless the
    /// policy itself was changed with `--set` (trying another policy on the same scenario); keys
    /// inherited from a parent that used another policy are ignored.
    private func reconnectPolicy(_ p: WrittenProfile, _ merged: WrittenReconnect) throws -> ReconnectPolicy {
        let kind = merged.get("policy", as: ReconnectPolicy.Kind.self) ?? .random
        let uses = ScenarioReader.policyKeys(kind)
        var policyFromOverride = false
        if let (policyValue, _) = merged.fields["policy"], case .override = context.origin(of: policyValue.path, mark: nil) {
            policyFromOverride = true
        }
        for key in ["min", "max", "delay", "base", "cap"] where !uses.contains(key) && !policyFromOverride {
            if let (value, _) = p.reconnect.fields[key] {
                throw value.error("does not apply to policy \(kind.rawValue), which uses \(ScenarioNode.list(uses, quoted: true, conjunction: "and"))")
            }
        }
        let at = merged.value ?? p.value
        func get(_ key: String, default d: Nanoseconds) -> (Nanoseconds, ScenarioNode) {
            guard let (value, parsed) = merged.fields[key], let ns = parsed as? Nanoseconds else { return (d, at) }
            return (ns, value)
        }
        var base: Nanoseconds, cap: Nanoseconds
        switch kind {
        case .random:
            let (lo, minValue) = get("min", default: Time.second)
            let (hi, maxValue) = get("max", default: 30 * Time.second)
            guard lo <= hi else {
                let value = p.reconnect.fields["max"] != nil ? maxValue : minValue
                throw value.error("max (\(Units.format(duration: hi))) is below min (\(Units.format(duration: lo)))")
            }
            (base, cap) = (lo, hi)
        case .constant:
            (base, _) = get("delay", default: 5 * Time.second)
            cap = base
        case .exponential, .fullJitter, .equalJitter, .decorrelatedJitter:
            let (b, baseValue) = get("base", default: Time.second)
            let (c, capValue) = get("cap", default: 5 * Time.minute)
            guard b > 0 else { throw baseValue.error("expected a duration > 0, got \(baseValue.got)") }
            guard c >= b else {
                let value = p.reconnect.fields["cap"] != nil ? capValue : baseValue
                throw value.error("cap (\(Units.format(duration: c))) is below base (\(Units.format(duration: b)))")
            }
            (base, cap) = (b, c)
        }
        return ReconnectPolicy(kind: kind, base: base, cap: cap,
                               maxAttempts: merged.get("max_attempts", as: Int.self),
                               resetAfter: merged.get("reset_after", as: Nanoseconds.self),
                               honourRetryAfter: merged.get("honour_retry_after", as: Bool.self) ?? true)
    }
}
