import DeviceModel

extension Scenario {
    /// Devices in the rollout fleet: the baseline groups plus the candidate group, as written.
    public var rolloutFleetSize: Int {
        guard let r = rollout else { return 0 }
        return fleet.filter { r.baseline.contains($0.name) || $0.name == r.candidate }.reduce(0) { $0 + $1.count }
    }

    /// Candidate devices at `share` of the rollout fleet (rounded to whole devices).
    public func candidateDevices(atShare share: Double) -> Int {
        Int((Double(rolloutFleetSize) * min(1, max(0, share))).rounded())
    }

    /// The scenario with `share` of the rollout fleet on the candidate firmware: devices move from
    /// the baseline groups (in proportion to their counts, largest remainders first) to the
    /// candidate group. Other groups, the backend and the timeline stay as written.
    public func atRolloutShare(_ share: Double) -> Scenario {
        guard let r = rollout else { return self }
        var s = self
        let size = rolloutFleetSize
        let candidates = candidateDevices(atShare: share)
        let remaining = size - candidates
        let baselineIndices = s.fleet.indices.filter { r.baseline.contains(s.fleet[$0].name) }
        let baselineTotal = baselineIndices.reduce(0) { $0 + s.fleet[$1].count }
        var assigned = 0
        var remainders: [(index: Int, remainder: Double)] = []
        for i in baselineIndices {
            // An empty baseline (everything written on the candidate) is split evenly.
            let weight = baselineTotal > 0 ? Double(s.fleet[i].count) / Double(baselineTotal) : 1 / Double(baselineIndices.count)
            let exact = Double(remaining) * weight
            let whole = Int(exact.rounded(.down))
            s.fleet[i].count = whole
            assigned += whole
            remainders.append((i, exact - Double(whole)))
        }
        remainders.sort { $0.remainder > $1.remainder || ($0.remainder == $1.remainder && $0.index < $1.index) }
        for k in 0..<(remaining - assigned) { s.fleet[remainders[k % remainders.count].index].count += 1 }
        if let c = s.fleet.firstIndex(where: { $0.name == r.candidate }) { s.fleet[c].count = candidates }
        for i in s.fleet.indices where s.fleet[i].roster != nil && s.fleet[i].roster!.count < s.fleet[i].count {
            s.fleet[i].roster = nil   // a roster too short for the new count: derived identities for all
        }
        return s
    }
}
