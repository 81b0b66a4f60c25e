/// A live run's one recorder (DESIGN.md, "Two drivers, one recorder"): each event loop counts
/// its devices' events in a recorder of its own and hands them over at every interval boundary;
/// the coordinator's recorder absorbs the loops' parts, takes the backend sample once, closes
/// the interval once and tells the fleet's story (milestones, mass disconnects, the busiest
/// second) once, whatever the loop count.
extension Recorder {
    /// Connect attempts begun in one second of scenario time.
    public struct SecondCount: Sendable, Equatable {
        public var second: Int64
        public var count: Int
        public init(second: Int64, count: Int) { self.second = second; self.count = count }
    }

    /// An online device lost its session at `t` without deciding it: the backend closed or reset
    /// its connection, or the network dropped it (`drop-sessions`).
    public struct Loss: Sendable, Equatable {
        public var t: Int64
        public var cause: LossCause
        public init(t: Int64, cause: LossCause) { self.t = t; self.cause = cause }
    }

    public enum LossCause: UInt8, Sendable {
        case lost, dropSessions
        var name: String { self == .lost ? "lost" : "drop-sessions" }
    }

    /// A device lost at `lostAt` is online again at `backAt`.
    public struct Return: Sendable, Equatable {
        public var lostAt: Int64
        public var backAt: Int64
        public init(lostAt: Int64, backAt: Int64) { self.lostAt = lostAt; self.backAt = backAt }
    }

    /// What one loop recorded since its last hand-over: its counts and handshake samples, its
    /// attempts per second, and its devices' levels (joined, online, in their first attempt)
    /// per group now. The driver adds its devices' losses and returns.
    public struct Part: Sendable {
        var counters: Counters
        var handshakes: LatencyRecorder
        var groups: [GroupTallies.Tally]
        var attemptSeconds: [SecondCount]
        public var losses: [Loss] = []
        public var returns: [Return] = []
    }

    /// Hands over what this (loop's) recorder counted since the last hand-over, and starts
    /// counting again.
    public mutating func handOver() -> Part {
        if attemptsThisSecond > 0 {
            attemptSeconds.append(SecondCount(second: currentSecond, count: attemptsThisSecond))
            attemptsThisSecond = 0   // the same second goes on counting afresh
        }
        let part = Part(counters: counters, handshakes: intervalHandshakes, groups: Array(groups.items),
                        attemptSeconds: attemptSeconds)
        attemptSeconds.removeAll(keepingCapacity: true)
        totals.add(counters)
        counters = Counters()
        intervalHandshakes.reset()
        return part
    }

    /// Adds the loops' parts, handed over at `now`: their counts and samples to this interval's,
    /// their levels as the fleet's (a group is blocked or not by this recorder's own
    /// `setBlocked`), their attempts per second to the fleet's (the busiest second is the
    /// fleet's, not a sum of the loops' busiest), and their losses to the mass disconnects
    /// (`LossClusters`, joined over every loop within `window`). `final`: the run is over, the
    /// last cluster closes.
    public mutating func absorb(_ parts: [Part], at now: Int64, window: Int64 = 1_000_000_000, final: Bool = false) {
        for g in groups.items.indices {
            groups.items[g].joined = 0
            groups.items[g].online = 0
            groups.items[g].joining = 0
        }
        var losses: [Loss] = []
        var returns: [Return] = []
        for part in parts {
            counters.add(part.counters)
            intervalHandshakes.add(part.handshakes)
            handshakes.add(part.handshakes)
            for (g, tally) in part.groups.enumerated() where g < groups.items.count {
                groups.items[g].joined += tally.joined
                groups.items[g].online += tally.online
                groups.items[g].joining += tally.joining
            }
            for s in part.attemptSeconds {
                let n = recentSeconds[s.second, default: 0] + s.count
                recentSeconds[s.second] = n
                intervalPeakAttempts = max(intervalPeakAttempts, n)
            }
            losses += part.losses
            returns += part.returns
        }
        // A second that began before this hand-over may go on in the next one; older ones are done.
        let done = now / 1_000_000_000 - 1
        if keepsIntervalHistograms {
            doneSeconds += recentSeconds.filter { $0.key < done }.sorted { $0.key < $1.key }.map { [$0.key, Int64($0.value)] }
        }
        recentSeconds = recentSeconds.filter { $0.key >= done }
        self.losses.window = window
        joinLosses(losses.sorted { $0.t < $1.t }, returns.sorted { $0.backAt < $1.backAt }, now: now, final: final)
    }

    /// The mass disconnects recorded here, for the report.
    public var massDisconnects: [Report.MassDisconnect] {
        episodes.dropFirst().map { e in
            Report.MassDisconnect(tS: Double(e.t) / 1e9, cause: e.cause, devices: e.devices,
                                  to50PctS: e.t50.map { Double($0 - e.t) / 1e9 },
                                  to95PctS: e.t95.map { Double($0 - e.t) / 1e9 })
        }
    }

    // MARK: Mass disconnects from losses

    /// The simulation drops a gateway's devices in one instant and records the episode there
    /// (`beginEpisode`). A live fleet sees the same crash as losses spread over a few
    /// milliseconds of wall time, on several loops, each at its own scenario time (tens of
    /// scenario seconds at a high time scale). So the coordinator joins them: a cluster begins at
    /// a loss and takes every loss (on any loop) within `window` of it; when it closes, the
    /// recorder's one rule (`beginEpisode`: ≥ 10 devices and ≥ 1% of the eligible fleet) says
    /// whether it is a mass disconnect, and the devices' returns (each with the time it was lost)
    /// say when it was 50% and 95% back.
    mutating func joinLosses(_ lost: [Loss], _ returns: [Return], now: Int64, final: Bool) {
        let window = losses.window
        for loss in lost {
            if let open = losses.open, loss.t < open.start + window {
                losses.open!.count += 1
            } else {
                closeCluster()
                losses.open = LossClusters.Open(start: loss.t, cause: loss.cause)
                losses.open!.count = 1
            }
        }
        for r in returns {
            if let open = losses.open, r.lostAt >= open.start, r.lostAt < open.start + window {
                losses.open!.backs.append(r.backAt)
            } else if let e = losses.episodes.last(where: { r.lostAt >= $0.start && r.lostAt < $0.end }) {
                back(episode: Int(e.id), at: r.backAt)
            }
        }
        if let open = losses.open, final || now >= open.start + window { closeCluster() }
    }

    private mutating func closeCluster() {
        guard let open = losses.open else { return }
        losses.open = nil
        let id = beginEpisode(at: open.start, cause: open.cause.name, onlineDropped: open.count)
        guard id != 0 else { return }
        losses.episodes.append((open.start, open.start + losses.window, id))
        for t in open.backs.sorted() { back(episode: Int(id), at: t) }
    }
}

/// The coordinator's losses not yet judged (`Recorder.joinLosses`).
struct LossClusters: Sendable {
    struct Open: Sendable {
        var start: Int64
        var cause: Recorder.LossCause
        var count = 0
        /// When each device lost in this cluster came back, so far.
        var backs: [Int64] = []
    }
    var window: Int64 = 1_000_000_000
    var open: Open?
    /// Clusters that became mass disconnects: the time their losses span, and the episode.
    var episodes: [(start: Int64, end: Int64, id: UInt32)] = []
}
