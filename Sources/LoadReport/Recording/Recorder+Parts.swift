/// A live run's one recorder (DESIGN.md, "Two drivers, one recorder"): each event loop counts
/// its devices' events in a recorder of its own and hands them over at every interval boundary;
/// the coordinator's recorder absorbs the loops' parts, takes the backend sample once, closes
/// the interval once and tells the fleet's story (milestones) once, whatever the loop count.
extension Recorder {
    /// What one loop recorded since its last hand-over: its counts and handshake samples, and
    /// its devices' levels (joined, online, in their first attempt) per group now.
    public struct Part: Sendable {
        var counters: Counters
        var handshakes: LatencyRecorder
        var groups: [GroupTallies.Tally]
        /// The loop's busiest second of connect attempts since the last hand-over.
        var peakAttemptsPerSecond: Int
    }

    /// Hands over what this (loop's) recorder counted since the last hand-over, and starts
    /// counting again. Its episodes stay here (`massDisconnects`).
    public mutating func handOver() -> Part {
        let part = Part(counters: counters, handshakes: intervalHandshakes, groups: Array(groups.items),
                        peakAttemptsPerSecond: intervalPeakAttempts)
        totals.add(counters)
        counters = Counters()
        intervalHandshakes.reset()
        peakAttemptsPerSecond = max(peakAttemptsPerSecond, intervalPeakAttempts)
        intervalPeakAttempts = attemptsThisSecond
        return part
    }

    /// Adds the loops' parts: their counts and samples to this interval's, their levels as the
    /// fleet's (a group is blocked or not by this recorder's own `setBlocked`). The busiest
    /// second is the sum of the loops' busiest (an upper bound: they need not be the same second).
    public mutating func absorb(_ parts: [Part]) {
        for g in groups.items.indices {
            groups.items[g].joined = 0
            groups.items[g].online = 0
            groups.items[g].joining = 0
        }
        var peak = 0
        for part in parts {
            counters.add(part.counters)
            intervalHandshakes.add(part.handshakes)
            handshakes.add(part.handshakes)
            for (g, tally) in part.groups.enumerated() where g < groups.items.count {
                groups.items[g].joined += tally.joined
                groups.items[g].online += tally.online
                groups.items[g].joining += tally.joining
            }
            peak += part.peakAttemptsPerSecond
        }
        intervalPeakAttempts = max(intervalPeakAttempts, peak)
    }

    /// The mass disconnects recorded here, for the coordinator's report.
    public var massDisconnects: [Report.MassDisconnect] {
        episodes.dropFirst().map { e in
            Report.MassDisconnect(tS: Double(e.t) / 1e9, cause: e.cause, devices: e.devices,
                                  to50PctS: e.t50.map { Double($0 - e.t) / 1e9 },
                                  to95PctS: e.t95.map { Double($0 - e.t) / 1e9 })
        }
    }
}
