import DeviceModel
import Yams

/// The `timeline:` list: scheduled actions, each with the keys of its action.
extension ScenarioReader {
    static let actionKeys: [(action: String, keys: [String])] = [
        ("add-devices", ["group", "count", "ramp"]),
        ("block", ["firmware"]),
        ("unblock", ["firmware"]),
        ("restart-gateways", ["gateway", "down"]),
        ("set-db-cores", ["cores"]),
        ("drop-sessions", ["fraction"]),
        ("set-admission", ["admission"]),
        ("outage", ["for"]),
        ("fail-gateway", ["gateway", "for"]),
        ("http-errors", ["fraction", "status", "retry_after", "for"]),
        ("latency", ["add", "for"]),
        ("db-errors", ["fraction", "for"]),
        ("dns-failure", ["for"]),
        ("remove-devices", ["group"]),
        ("power-off", ["group"]),
        ("feature-failure", ["model", "firmware", "message", "for"]),
    ]
    static let eventKeys = ["at", "action", "note"]

    /// Events in time order; events at the same time keep their order in the file.
    func timeline(_ value: ScenarioNode, fleet: [Scenario.Group], profiles: [String: Scenario.Profile], backend: Scenario.Backend) throws -> [Scenario.TimelineEvent] {
        if value.isNull { return [] }
        var events: [Scenario.TimelineEvent] = []
        let allKeys = ScenarioReader.eventKeys + ScenarioReader.actionKeys.flatMap(\.keys).reduce(into: [String]()) {
            if !$0.contains($1) { $0.append($1) }
        }
        for item in try value.sequence() {
            let e = try item.mapping(keys: allKeys, what: "an event (a mapping with at and action)")
            let actionValue = try e.required("action")
            let action = try actionValue.choice(ScenarioReader.actionKeys.map(\.action))
            let keys = ScenarioReader.actionKeys.first(where: { $0.action == action })!.keys
            for key in e.presentKeys where !ScenarioReader.eventKeys.contains(key) && !keys.contains(key) {
                throw e.value.context.error("does not apply to action \(action), which takes \(ScenarioNode.list(keys, quoted: true, conjunction: "and"))",
                                            at: e[key]!.path, mark: e.keyMark(key))
            }
            let at = try time(try e.required("at"))
            let note = try e["note"]?.text(expected: "a text")

            let kind: Scenario.Action
            switch action {
            case "add-devices":
                let groupValue = try e.required("group")
                let group = try groupValue.string()
                guard fleet.contains(where: { $0.name == group }) else {
                    throw groupValue.error(ScenarioReader.unknown("group", group, known: fleet.map(\.name)))
                }
                kind = .addDevices(group: group, count: try e.required("count").integer(atLeast: 0),
                                   ramp: try e["ramp"]?.duration() ?? 0)
            case "block", "unblock":
                let range = try firmwareRange(try e.required("firmware"))
                kind = action == "block" ? .block(range) : .unblock(range)
            case "restart-gateways":
                var gateway: Int?
                if let g = e["gateway"] {
                    let text = try g.text(expected: "all or a gateway index")
                    if text.trimmingWhitespace().lowercased() != "all" {
                        let last = backend.gateways.count - 1
                        guard let i = ScenarioNode.parseInteger(text), (0...last).contains(i) else {
                            let got = ScenarioNode.parseInteger(text).map(String.init) ?? g.got
                            throw g.error("expected all or a gateway index from 0 to \(last), got \(got)")
                        }
                        gateway = i
                    }
                }
                kind = .restartGateways(gateway: gateway, down: try e["down"]?.duration() ?? backend.gateways.restart)
            case "set-db-cores":
                kind = .setDatabaseCores(try e.required("cores").integer(atLeast: 1))
            case "drop-sessions":
                kind = .dropSessions(fraction: try e.required("fraction").fraction())
            case "set-admission":
                kind = .setAdmission(try admission(try e.required("admission")))
            case "outage":
                kind = .outage(duration: try e.required("for").positiveDuration())
            case "fail-gateway":
                let g = try e.required("gateway")
                let last = backend.gateways.count - 1
                guard let i = ScenarioNode.parseInteger(try g.text(expected: "a gateway index")), (0...last).contains(i) else {
                    throw g.error("expected a gateway index from 0 to \(last), got \(g.got)")
                }
                kind = .failGateway(gateway: i, duration: try e.required("for").positiveDuration())
            case "http-errors":
                var status = 503
                if let s = e["status"] {
                    status = try s.integer(atLeast: 0)
                    guard (500...599).contains(status) else { throw s.error("expected an HTTP status from 500 to 599, got \(s.got)") }
                }
                kind = .httpErrors(fraction: try e.required("fraction").fraction(), status: status,
                                   retryAfter: try e["retry_after"]?.durationOrNone(positive: false),
                                   duration: try e.required("for").positiveDuration())
            case "latency":
                kind = .latency(add: try e.required("add").positiveDuration(), duration: try e.required("for").positiveDuration())
            case "db-errors":
                kind = .dbErrors(fraction: try e.required("fraction").fraction(), duration: try e.required("for").positiveDuration())
            case "dns-failure":
                kind = .dnsFailure(duration: try e.required("for").positiveDuration())
            case "remove-devices", "power-off":
                let groupValue = try e.required("group")
                let group = try groupValue.string()
                guard fleet.contains(where: { $0.name == group }) else {
                    throw groupValue.error(ScenarioReader.unknown("group", group, known: fleet.map(\.name)))
                }
                kind = .removeDevices(group: group)
            case "feature-failure":
                var model: String?
                if let m = e["model"] {
                    let name = try m.string()
                    let models = fleet.compactMap(\.model).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
                    guard models.contains(name) else {
                        if models.isEmpty { throw m.error("no fleet group has a model (fleet[].model) to select") }
                        throw m.error(ScenarioReader.unknown("model", name, known: models))
                    }
                    model = name
                }
                let firmware = try e["firmware"].map { try firmwareRange($0) }
                let messageValue = try e.required("message")
                let message = try messageValue.string()
                let sent = Set(fleet.flatMap { profiles[$0.profile]?.messages.map(\.kind) ?? [] })
                guard sent.contains(message) else {
                    if sent.isEmpty { throw messageValue.error("no profile sends messages besides heartbeats (profiles.NAME.messages)") }
                    throw messageValue.error(ScenarioReader.unknown("message", message, known: sent.sorted()))
                }
                kind = .featureFailure(model: model, firmware: firmware, message: message,
                                       duration: try e.required("for").positiveDuration())
            default:
                throw actionValue.expected(ScenarioNode.list(ScenarioReader.actionKeys.map(\.action), quoted: false))
            }
            events.append(Scenario.TimelineEvent(at: at, action: kind, note: note))
        }
        // Stable sort: Swift's sort is not guaranteed stable, so sort indices.
        return events.indices.sorted { (events[$0].at, $0) < (events[$1].at, $1) }.map { events[$0] }
    }

    func firmwareRange(_ value: ScenarioNode) throws -> FirmwareRange {
        let text = try value.text(expected: "a firmware range like \">=3.8.0-b3\"")
        do {
            return try FirmwareRange(parsing: text)
        } catch let error as FirmwareRange.ParseError {
            throw value.error(error.description)
        }
    }
}
