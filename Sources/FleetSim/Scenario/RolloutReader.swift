import Yams

/// The `rollout:` section: the question of a rollout check (scenarios/README.md).
extension ScenarioReader {
    static let rolloutKeys = ["candidate", "baseline", "planned", "margin", "health", "search"]
    static let healthKeys = ["online_fraction", "window", "perturbation", "recover_within", "hold"]

    func rollout(_ value: ScenarioNode, fleet: [Scenario.Group], backend: Scenario.Backend) throws -> Rollout {
        let r = try value.mapping(keys: ScenarioReader.rolloutKeys,
                                  what: "a rollout (a mapping with candidate, baseline and planned)")
        let names = fleet.map(\.name)
        func group(_ v: ScenarioNode) throws -> String {
            let name = try v.string()
            guard names.contains(name) else { throw v.error(ScenarioReader.unknown("group", name, known: names)) }
            return name
        }
        let candidateValue = try r.required("candidate")
        let candidate = try group(candidateValue)

        let baselineValue = try r.required("baseline")
        var baseline: [String] = []
        let items: [ScenarioNode]
        if case .sequence = baselineValue.node { items = try baselineValue.sequence() } else { items = [baselineValue] }
        guard !items.isEmpty else { throw baselineValue.error("expected at least one baseline group, got an empty list") }
        for item in items {
            let name = try group(item)
            guard name != candidate else {
                throw item.error("\"\(name)\" is the candidate; the baseline is the groups its devices come from")
            }
            guard !baseline.contains(name) else { throw item.error("\"\(name)\" is listed twice") }
            baseline.append(name)
        }
        let size = fleet.filter { baseline.contains($0.name) || $0.name == candidate }.reduce(0) { $0 + $1.count }
        guard size > 0 else {
            throw baselineValue.error("the baseline and candidate groups have no devices: there is no fleet to roll out to")
        }

        var rollout = Rollout(candidate: candidate, baseline: baseline, planned: try r.required("planned").fraction())
        if let v = r["margin"] { rollout.margin = try margin(v) }

        if let h = r["health"] {
            let m = try h.mapping(keys: ScenarioReader.healthKeys)
            if let v = m["online_fraction"] { rollout.health.onlineFraction = try v.fraction() }
            if let v = m["window"] {
                let window = try v.positiveDuration()
                guard window <= duration else {
                    throw v.error("\(try v.text(expected: "").trimmingWhitespace()) is longer than the run (duration \(durationText))")
                }
                rollout.health.window = window
            }
            if let v = m["perturbation"] {
                let p = try v.mapping(keys: ["at", "down"], what: "the standard perturbation (a mapping with at and down)")
                if let at = p["at"] { rollout.health.perturbationAt = try at.duration() }
                if let down = p["down"] { rollout.health.perturbationDown = try down.duration() }
            }
            if let v = m["recover_within"] { rollout.health.recoverWithin = try v.positiveDuration() }
            if let v = m["hold"] { rollout.health.hold = try v.duration() }
        }
        if let s = r["search"] {
            let m = try s.mapping(keys: ["seeds", "precision"])
            if let v = m["seeds"] { rollout.search.seeds = try v.integer(in: 1...64) }
            if let v = m["precision"] {
                let p = try v.fraction()
                guard p > 0, p <= 0.25 else { throw v.error("expected a share above 0% and at most 25%, got \(v.got)") }
                rollout.search.precision = p
            }
        }
        return rollout
    }

    /// A safety factor: `2x`, `2×`, `2` or `1.5x`; at least 1.
    func margin(_ value: ScenarioNode) throws -> Double {
        let what = "a factor like \"2x\" (at least 1)"
        var text = try value.text(expected: what).trimmingWhitespace().lowercased()
        if text.hasSuffix("x") || text.hasSuffix("×") { text.removeLast() }
        guard let factor = Double(text), factor.isFinite else { throw value.expected(what) }
        guard factor >= 1 else { throw value.error("expected \(what), got \(value.got)") }
        return factor
    }
}
