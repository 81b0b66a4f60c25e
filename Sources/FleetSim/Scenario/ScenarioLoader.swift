import DeviceModel
import Foundation
import Yams

/// Reads a scenario file (format version 1, documented in scenarios/README.md) into a validated
/// `Scenario`.
///
/// The YAML is composed into a node tree with positions and walked by hand rather than decoded,
/// so that every error can name `file:line:column`, the field, what was expected and what was
/// found. Every error is a `ScenarioError`.
public enum ScenarioLoader {
    /// The scenario format this loader reads.
    public static let formatVersion = 1

    /// Loads and validates a scenario file; `overrides` are `--set path=value` strings applied
    /// before validation.
    public static func load(path: String, overrides: [String] = []) throws -> Scenario {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            var isDirectory: ObjCBool = false
            let reason: String
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                reason = "no such file"
            } else if isDirectory.boolValue {
                reason = "it is a directory"
            } else if !FileManager.default.isReadableFile(atPath: path) {
                reason = "permission denied"
            } else {
                reason = "it is not UTF-8 text"
            }
            throw ScenarioError(origin: .file(path, line: nil, column: nil), message: "cannot read the scenario: \(reason)")
        }
        return try load(yaml: text, path: path, overrides: overrides)
    }

    /// Loads and validates scenario text. `path` is used in messages and to resolve relative
    /// paths written in the scenario (`devices:` files).
    public static func load(yaml: String, path: String, overrides: [String] = []) throws -> Scenario {
        var context = SourceContext(file: path)
        guard var tree = try YAMLSyntax.compose(yaml, file: path) else {
            throw ScenarioError(origin: .file(path, line: nil, column: nil),
                                message: "the scenario is empty; expected a mapping with version, name, duration, profiles, fleet and backend")
        }
        guard case .mapping = tree else {
            throw ScenarioNode(node: tree, path: .root, context: context)
                .expected("a scenario: a mapping with version, name, duration, profiles, fleet and backend")
        }
        for argument in overrides {
            let override = try Override(parsing: argument)
            let field = try override.apply(to: &tree)
            context.overrides.append((field, argument))
        }
        var reader = ScenarioReader(context: context)
        return try reader.scenario(ScenarioNode(node: tree, path: .root, context: context))
    }
}

/// Walks a scenario's node tree into a `Scenario`, in document order, stopping at the first error.
struct ScenarioReader {
    let context: SourceContext

    /// The run's length, for checks of times in the fleet and the timeline.
    var duration: Nanoseconds = 0
    var durationText = ""

    init(context: SourceContext) { self.context = context }

    static let topKeys = ["version", "name", "description", "seed", "clock_start", "duration", "interval",
                          "network", "profiles", "fleet", "backend", "timeline", "thresholds", "rollout",
                          "target", "time_scale", "observe", "hooks"]

    mutating func scenario(_ root: ScenarioNode) throws -> Scenario {
        let top = try root.mapping(keys: ScenarioReader.topKeys, ignoringPrefix: "x-")

        let versionValue = try top.required("version")
        let version = try versionValue.text(expected: "1")
        guard ScenarioNode.parseInteger(version) == ScenarioLoader.formatVersion else {
            throw versionValue.error("expected 1 (the scenario format this fleetsim reads), got \(versionValue.got)")
        }
        let name = try top.required("name").string()
        let description = try top["description"]?.text(expected: "a text")
        let seed = try top["seed"]?.uint64() ?? 1
        let clockStart = try top["clock_start"]?.string()

        let durationValue = try top.required("duration")
        duration = try durationValue.positiveDuration()
        durationText = try durationValue.text(expected: ScenarioNode.durationExample).trimmingWhitespace().description

        var interval = min(Time.minute, duration)
        if let intervalValue = top["interval"] {
            interval = try intervalValue.positiveDuration()
            guard interval <= duration else {
                throw intervalValue.error("\(try intervalValue.text(expected: "")) is longer than the run (duration \(durationText))")
            }
        }

        var network = Scenario.Network()
        if let networkValue = top["network"] {
            let n = try networkValue.mapping(keys: ["latency"])
            if let latency = n["latency"] { network.latency = try latency.duration() }
        }

        let profiles = try self.profiles(try top.required("profiles"))
        let fleet = try self.fleet(try top.required("fleet"), profiles: profiles)
        var live = try self.live(top["target"], top["time_scale"], top["observe"])
        if let hooks = top["hooks"] { live.hooks = try self.hooks(hooks) }
        let backend = live.target != nil && top["backend"] == nil
            ? Scenario.Backend.unmodelled : try self.backend(try top.required("backend"))
        let timeline = try top["timeline"].map { try self.timeline($0, fleet: fleet, profiles: profiles, backend: backend) } ?? []
        let thresholds = try top["thresholds"].map { try self.thresholds($0) } ?? []
        let rollout = try top["rollout"].map { try self.rollout($0, fleet: fleet, backend: backend) }

        var scenario = Scenario(name: name, seed: seed, duration: duration, interval: interval, network: network,
                                profiles: profiles, fleet: fleet, backend: backend, timeline: timeline,
                                thresholds: thresholds)
        scenario.description = description
        scenario.clockStart = clockStart
        scenario.sourcePath = context.file
        scenario.rollout = rollout
        scenario.live = live
        return scenario
    }

    // MARK: Live keys

    /// `target:` (a URL, or a mapping with `url` and `headers`, each header's value read from a
    /// named environment variable: `{env: NAME}`), `time_scale:` and `observe:` (Prometheus URLs).
    func live(_ target: ScenarioNode?, _ timeScale: ScenarioNode?, _ observe: ScenarioNode?) throws -> Scenario.Live {
        var live = Scenario.Live()
        if let target {
            var urlValue = target
            if (try? target.entries()) != nil {
                let m = try target.mapping(keys: ["url", "headers"], what: "a target (url, headers)")
                urlValue = try m.required("url")
                if let h = m["headers"] {
                    for (name, _, v) in try h.entries(what: "a mapping of header names to {env: VARIABLE}") {
                        let e = try v.mapping(keys: ["env"], what: "{env: VARIABLE}: header values come from the environment, never from the file")
                        let variable = try e.required("env").string()
                        guard !variable.isEmpty else { throw v.error("expected an environment variable name") }
                        live.headers.append((name, variable))
                    }
                }
            }
            let url = try urlValue.string()
            guard url.hasPrefix("ws://") || url.hasPrefix("wss://") else {
                throw urlValue.error("expected a ws:// or wss:// URL, got \"\(url)\"")
            }
            live.target = url
        }
        if let timeScale {
            live.timeScale = try timeScale.number(atLeast: 0.001)
            guard live.timeScale <= 10_000 else { throw timeScale.error("expected a time scale ≤ 10000, got \(timeScale.got)") }
        }
        if let observe {
            for item in try observe.sequence() {
                let url = try item.string()
                guard url.hasPrefix("http://") else { throw item.error("expected an http:// URL of a Prometheus endpoint, got \"\(url)\"") }
                live.observe.append(url)
            }
        }
        return live
    }

    // MARK: Fleet

    func fleet(_ value: ScenarioNode, profiles: [String: Scenario.Profile]) throws -> [Scenario.Group] {
        let items = try value.sequence()
        guard !items.isEmpty else { throw value.error("expected at least one group of devices, got an empty list") }
        var groups: [Scenario.Group] = []
        var seen: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let g = try item.mapping(keys: ["name", "count", "firmware", "profile", "join", "devices", "model"],
                                     what: "a group (a mapping with name, count, firmware and profile)")
            let nameValue = try g.required("name")
            let name = try nameValue.string()
            if let other = seen[name] {
                throw nameValue.error("\"\(name)\" is already the name of fleet[\(other)]; group names must be unique")
            }
            seen[name] = index

            var roster: [DeviceRoster.Entry]?
            var rosterPath = ""
            if let devices = g["devices"] {
                (roster, rosterPath) = try self.roster(devices)
            }
            let count: Int
            if let countValue = g["count"] {
                count = try countValue.integer(atLeast: 0)
                if let roster, count > roster.count {
                    throw countValue.error("\(count) is more than the \(roster.count) devices in \(rosterPath)")
                }
            } else if let roster {
                count = roster.count
            } else {
                _ = try g.required("count")
                count = 0
            }

            let firmwareValue = try g.required("firmware")
            let firmware = try self.firmware(firmwareValue)
            let profileValue = try g.required("profile")
            let profile = try profileValue.string()
            guard profiles[profile] != nil else {
                throw profileValue.error(ScenarioReader.unknown("profile", profile, known: profiles.keys.sorted()))
            }

            var group = Scenario.Group(name: name, count: count, firmware: firmware, profile: profile)
            if let m = g["model"] { group.model = try m.string() }
            if let joinValue = g["join"] {
                let join = try joinValue.mapping(keys: ["at", "ramp", "warm"])
                if let at = join["at"] { group.joinAt = try self.time(at) }
                if let ramp = join["ramp"] { group.ramp = try ramp.duration() }
                if let warm = join["warm"] { group.warm = try warm.bool() }
            }
            // The group's firmware applies to every device; the roster contributes identities.
            group.roster = roster?.map { entry in
                var e = entry
                e.firmware = firmware
                return e
            }
            groups.append(group)
        }
        return groups
    }

    func firmware(_ value: ScenarioNode) throws -> FirmwareVersion {
        let what = "a firmware version like \"3.8.0-b3\""
        // YAML reads 3.7 as a number: its text is still "3.7", which is what we want.
        guard let version = FirmwareVersion(try value.text(expected: what)) else { throw value.expected(what) }
        return version
    }

    /// Reads the `devices:` CSV, relative to the scenario file's folder.
    func roster(_ value: ScenarioNode) throws -> ([DeviceRoster.Entry], String) {
        let written = try value.string()
        let path: String
        if written.hasPrefix("/") {
            path = written
        } else {
            let folder = (context.file as NSString).deletingLastPathComponent
            path = folder.isEmpty ? written : (folder as NSString).appendingPathComponent(written)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw value.error("cannot read \"\(path)\": no such file")
        }
        let roster: DeviceRoster
        do {
            roster = try DeviceRoster(contentsOf: path)
        } catch let error as DeviceRoster.ParseError {
            throw ScenarioError(origin: .file(error.file, line: error.line, column: error.column), message: error.message)
        }
        guard !roster.entries.isEmpty else { throw value.error("\"\(path)\" lists no devices") }
        return (roster.entries, path)
    }

    /// A point in the run: a duration from t = 0, before the end.
    func time(_ value: ScenarioNode) throws -> Nanoseconds {
        let t = try value.duration()
        guard t < duration else {
            let written = try value.text(expected: "").trimmingWhitespace()
            if t == duration {
                throw value.error("\(written) is the end of the run (duration \(durationText)); it must be earlier")
            }
            throw value.error("\(written) is after the end of the run (duration \(durationText))")
        }
        return t
    }

    static func unknown(_ noun: String, _ name: String, known: [String]) -> String {
        var message = "unknown \(noun) \"\(name)\""
        if let suggestion = Suggestion.closest(to: name, in: known) {
            message += "; did you mean \"\(suggestion)\"?"
        } else {
            message += " (the scenario defines \(ScenarioNode.list(known, quoted: true)))"
        }
        return message
    }

    // MARK: Backend

    func backend(_ value: ScenarioNode) throws -> Scenario.Backend {
        let b = try value.mapping(keys: ["gateways", "load_balancer", "database", "admission"])

        let g = try b.required("gateways").mapping(keys: ["count", "memory_base", "memory_limit", "per_connection",
                                                          "per_pending", "restart"])
        var gateways = Scenario.Gateways(count: try g.required("count").integer(atLeast: 1),
                                         memoryBase: 256 << 20, memoryLimit: 2 << 30, perConnection: 64 << 10,
                                         perPending: 256 << 10, restart: 30 * Time.second)
        if let v = g["memory_base"] { gateways.memoryBase = try v.bytes() }
        if let v = g["memory_limit"] { gateways.memoryLimit = try v.bytes() }
        if let v = g["per_connection"] { gateways.perConnection = try v.bytes() }
        if let v = g["per_pending"] { gateways.perPending = try v.bytes() }
        if let v = g["restart"] { gateways.restart = try v.duration() }
        guard gateways.memoryLimit > gateways.memoryBase else {
            let at = g["memory_limit"] ?? g["memory_base"] ?? g.value
            throw at.error("memory_limit (\(Units.format(bytes: gateways.memoryLimit))) must be above memory_base (\(Units.format(bytes: gateways.memoryBase)))")
        }

        var loadBalancer = Scenario.LoadBalancing.roundRobin
        if let v = b["load_balancer"] {
            loadBalancer = Scenario.LoadBalancing(rawValue: try v.choice(Scenario.LoadBalancing.allCases.map(\.rawValue)))!
        }

        let d = try b.required("database").mapping(keys: ["cores", "rows", "scan_cost_per_row", "indexed_cost",
                                                          "heartbeat_cost", "queue_timeout"])
        var database = Scenario.Database(cores: try d.required("cores").integer(atLeast: 1),
                                         rows: try d.required("rows").integer(atLeast: 0),
                                         scanCostPerRow: 10 * Time.microsecond, indexedCost: 800 * Time.microsecond,
                                         heartbeatCost: 200 * Time.microsecond, queueTimeout: nil)
        if let v = d["scan_cost_per_row"] { database.scanCostPerRow = try v.duration() }
        if let v = d["indexed_cost"] { database.indexedCost = try v.duration() }
        if let v = d["heartbeat_cost"] { database.heartbeatCost = try v.duration() }
        if let v = d["queue_timeout"] { database.queueTimeout = try v.durationOrNone() }

        let admission = try b["admission"].flatMap { try self.admission($0) }
        return Scenario.Backend(gateways: gateways, database: database, admission: admission, loadBalancer: loadBalancer)
    }

    /// Admission control settings, or nil for `off` (also `none`, `false` or an empty value).
    func admission(_ value: ScenarioNode) throws -> Scenario.Admission? {
        if value.isNull { return nil }
        if case .scalar(let s) = value.node, ["off", "none", "false", "no"].contains(s.string.lowercased()) { return nil }
        let a = try value.mapping(keys: ["connect_rate", "burst", "max_pending", "retry_after"],
                                  what: "admission settings (a mapping with connect_rate, burst, max_pending, retry_after) or off")
        var admission = Scenario.Admission(retryAfter: Scenario.defaultRetryAfter)
        if let v = a["connect_rate"] {
            let rate = try v.rate()
            guard rate > 0 else { throw v.error("expected a rate > 0, got \(v.got)") }
            admission.connectRate = rate
        }
        if let v = a["burst"] {
            guard admission.connectRate != nil else {
                throw v.error("a burst needs a connect_rate (it is the size of the connect-rate token bucket)")
            }
            admission.burst = try v.number(atLeast: 1)
        }
        if let v = a["max_pending"] { admission.maxPending = try v.integer(atLeast: 1) }
        if let v = a["retry_after"] { admission.retryAfter = try v.duration() }
        return admission
    }

    // MARK: Thresholds

    func thresholds(_ value: ScenarioNode) throws -> [Scenario.Threshold] {
        var out: [Scenario.Threshold] = []
        for (metric, _, expressions) in try value.entries(what: "a mapping of metric to a list of conditions like \"p99 < 500\"") {
            let items: [ScenarioNode]
            if case .sequence = expressions.node { items = try expressions.sequence() } else { items = [expressions] }
            for var item in items {
                var abortOnFail = false
                if case .mapping = item.node {   // k6's long form: { threshold: "p99 < 500", abort_on_fail: true }
                    let m = try item.mapping(keys: ["threshold", "abort_on_fail"])
                    abortOnFail = try m["abort_on_fail"]?.bool() ?? false
                    item = try m.required("threshold")
                }
                let expression = try item.text(expected: "a condition like \"p99 < 500\"").trimmingWhitespace()
                guard !expression.isEmpty else { throw item.error("expected a condition like \"p99 < 500\", got an empty one") }
                let origin = context.origin(of: item.path, mark: item.mark)
                let location = ScenarioError(origin: origin, message: "").location
                out.append(Scenario.Threshold(metric: metric, expression: String(expression), location: location,
                                              abortOnFail: abortOnFail))
            }
        }
        return out
    }
}
