import Foundation
import Histogram

/// Combining the reports of the shards of one run (`--shard i/n`: every n-th device per process or
/// machine) into the report of the whole run.
///
/// Exact where the report allows it, and said where it does not:
/// - **exact**: device counts and every run total add up; the latency distribution is the sum of
///   the shards' HdrHistograms, so merged percentiles are those of the union of the samples;
///   device-side series (online, eligible, connects, disconnects, attempts, timeouts, rejects)
///   add element-wise, and the online fraction, retry amplification and thresholds are computed
///   again from the merged figures, never averaged from the shards'.
/// - **one backend seen from every shard**: backend-side series (database utilisation and wait,
///   pending handshakes, backend memory, crashes) are copies of one scrape, so they are taken
///   once (the element-wise maximum, equal to each copy when the shards sampled alike), never
///   summed; so are crash and memory totals.
/// - **per-interval latency percentiles**: a live report keeps each interval's handshakes
///   (`histograms.handshake_us_by_interval`); when every shard's report has them, the merged
///   interval percentiles are those of all the shards' samples, computed as one run computes
///   them. Otherwise (a simulation's reports) they are the maximum of the shards' (an upper bound).
/// - **the busiest second**: a live report keeps its connect attempts per second
///   (`histograms.connect_attempts_by_second`); when every shard's has them, the shards' seconds
///   add before the maximum, so the merged peak reconnect rate is the fleet's, as within one run
///   the loops' seconds add (`Recorder.absorb`). Otherwise (simulations) it is the sum of the
///   shards' peaks, an upper bound.
/// - **bounds**: a mass disconnect seen by several shards (one cause, within half an interval, at most one
///   episode per shard) is one episode of all their devices; its times back to 50% and 95% are the
///   slowest shard's (an upper bound: when every shard is half back, so is the fleet).
/// - Milestones: recorded events (the scheduled timeline, applied by every shard; crashes) are
///   the union, identical ones once; a timeline event that counts what it did to each shard's
///   devices (`Report.Milestone.template`) is one milestone with the shards' counts added; the
///   fleet's story (saturation, storms, collapse, recovery) and the recovery time are derived
///   again from the merged series (`ReportRules`, `MilestoneTracker`), by the rules a single run uses.
/// - **local shards** (`fleetsim run --processes N`): the backend's side is one more report, of
///   no devices (`backend:`), whose backend series, crashes, timeline milestones and database
///   section are the merged report's; it is not a shard (never "missing").
public enum ReportMerge {
    public static func merge(_ shards: [Report], backend: Report? = nil) throws -> Report {
        let reports = shards + (backend.map { [$0] } ?? [])
        guard let first = reports.first else { throw ReportError("nothing to merge: give at least one report") }
        for (i, r) in reports.enumerated().dropFirst() {
            guard r.scenario == first.scenario else {
                throw ReportError("report \(i + 1) is of scenario \"\(r.scenario)\", report 1 of \"\(first.scenario)\": only shards of one run merge")
            }
            guard r.mode == first.mode else {
                throw ReportError("report \(i + 1) is a \(r.mode) run, report 1 a \(first.mode) run: only shards of one run merge")
            }
            guard r.seed == first.seed else {
                throw ReportError("report \(i + 1) has seed \(r.seed), report 1 seed \(first.seed): only shards of one run merge")
            }
            let common = min(r.series.count, first.series.count)
            guard r.series.intervalS == first.series.intervalS, r.series.tS.prefix(common) == first.series.tS.prefix(common) else {
                throw ReportError("report \(i + 1) covers different intervals than report 1 (\(r.series.count) × \(r.series.intervalS) s against \(first.series.count) × \(first.series.intervalS) s)")
            }
            guard r.thresholds.map({ [$0.metric, $0.expression] }) == first.thresholds.map({ [$0.metric, $0.expression] }) else {
                throw ReportError("report \(i + 1) has different thresholds than report 1: only shards of one run merge")
            }
            let (a, b) = (first.histograms.handshakeUs, r.histograms.handshakeUs)
            guard a.lowestDiscernibleValue == b.lowestDiscernibleValue,
                  a.numberOfSignificantValueDigits == b.numberOfSignificantValueDigits else {
                throw ReportError("report \(i + 1) records latency with a different histogram precision than report 1")
            }
        }

        var histogram = first.histograms.handshakeUs
        histogram.autoResize = true
        for r in reports.dropFirst() { histogram.add(r.histograms.handshakeUs) }

        let series = mergedSeries(reports)
        let milestones = mergedMilestones(reports, series: series)
        let summary = mergedSummary(reports, series: series, milestones: milestones, histogram: histogram)
        var merged = Report(mode: first.mode, scenario: first.scenario, seed: first.seed, clockStart: first.clockStart,
                            summary: summary, storm: mergedStorm(reports, summary: summary),
                            milestones: milestones, series: series,
                            thresholds: first.thresholds.map { Report.ThresholdResult(metric: $0.metric, expression: $0.expression) },
                            histograms: Report.Histograms(handshakeUs: histogram, byInterval: mergedIntervals(reports),
                                                          attemptsBySecond: mergedAttemptsBySecond(reports)))
        func name(_ i: Int) -> String {
            guard i < shards.count else { return "the backend's side" }
            return shards[i].shard.map { "shard \($0)" } ?? "shard report \(i + 1)"
        }
        var incomplete = reports.enumerated().compactMap { i, r in r.incomplete.map { "\(name(i)): \($0)" } }
        // A shard that stopped early: the merged series ends where it does.
        let covered = reports.map(\.series.count).max() ?? 0
        for (i, r) in reports.enumerated() where r.series.count < covered && r.incomplete == nil {
            incomplete.append("\(name(i)) stopped at t=\(Int(r.series.tS.last ?? 0))s (\(r.series.count) of \(covered) intervals)")
        }
        if let missing = try missingShards(shards) { incomplete.append(missing) }
        merged.database = backend?.database ?? reports.lazy.compactMap(\.database).first
        merged.incomplete = incomplete.isEmpty ? nil : incomplete.joined(separator: "; ")
        do {
            try merged.evaluateThresholds()
        } catch let error as ThresholdError {
            throw ReportError(error.message)
        }
        return merged
    }

    /// When every report names its shard (`i/n`): the shards of the fleet that none of them is,
    /// as the merged report's reason to be incomplete. A shard given twice is an error.
    static func missingShards(_ reports: [Report]) throws -> String? {
        let shards = reports.compactMap { r -> (Int, Int)? in
            guard let parts = r.shard?.split(separator: "/"), parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { return nil }
            return (i, n)
        }
        guard shards.count == reports.count, let n = shards.first?.1 else { return nil }
        var seen = Set<Int>()
        for (k, (i, count)) in shards.enumerated() {
            guard count == n else { throw ReportError("report \(k + 1) is shard \(i)/\(count), report 1 of \(n) shards: only shards of one run merge") }
            guard seen.insert(i).inserted else { throw ReportError("report \(k + 1) is shard \(i)/\(n) again: give each shard's report once") }
        }
        let missing = (0..<n).filter { !seen.contains($0) }
        guard !missing.isEmpty else { return nil }
        let names = missing.prefix(8).map { "\($0)/\(n)" }.joined(separator: ", ") + (missing.count > 8 ? " and \(missing.count - 8) more" : "")
        return "\(missing.count) of \(n) shards missing (\(names)): the merged report covers the other \(n - missing.count)"
    }

    static func mergedSeries(_ reports: [Report]) -> Report.Series {
        let first = reports.min { $0.series.count < $1.series.count }!.series
        var s = Report.Series(intervalS: first.intervalS)
        s.tS = first.tS
        func sum<T: AdditiveArithmetic>(_ path: KeyPath<Report.Series, [T]>) -> [T] {
            reports.dropFirst().reduce(reports[0].series[keyPath: path]) { acc, r in
                zip(acc, r.series[keyPath: path]).map { $0 + $1 }
            }
        }
        func maximum<T: Comparable>(_ path: KeyPath<Report.Series, [T]>) -> [T] {
            reports.dropFirst().reduce(reports[0].series[keyPath: path]) { acc, r in
                zip(acc, r.series[keyPath: path]).map { Swift.max($0, $1) }
            }
        }
        func maximumOptional(_ path: KeyPath<Report.Series, [Double?]>) -> [Double?] {
            reports.dropFirst().reduce(reports[0].series[keyPath: path]) { acc, r in
                zip(acc, r.series[keyPath: path]).map { a, b in
                    switch (a, b) {
                    case let (a?, b?): return Swift.max(a, b)
                    default: return a ?? b
                    }
                }
            }
        }
        s.online = sum(\.online)
        s.eligible = sum(\.eligible)
        s.connects = sum(\.connects)
        s.disconnects = sum(\.disconnects)
        s.connectAttempts = sum(\.connectAttempts)
        s.handshakeTimeouts = sum(\.handshakeTimeouts)
        s.ackTimeouts = sum(\.ackTimeouts)
        s.rejects = sum(\.rejects)
        s.pendingHandshakes = maximum(\.pendingHandshakes)
        s.crashes = maximum(\.crashes)
        s.dbUtilization = maximum(\.dbUtilization)
        s.dbWaitS = maximum(\.dbWaitS)
        s.backendMemoryBytes = maximum(\.backendMemoryBytes)
        if let intervals = mergedIntervals(reports) {
            let recorders = intervals.map(LatencyRecorder.init)
            s.handshakeP50Ms = recorders.map { $0.percentileMs(50) }
            s.handshakeP99Ms = recorders.map { $0.percentileMs(99) }
        } else {
            s.handshakeP50Ms = maximumOptional(\.handshakeP50Ms)
            s.handshakeP99Ms = maximumOptional(\.handshakeP99Ms)
        }
        return s
    }

    /// Each interval's handshakes of every shard together, when every shard kept them.
    static func mergedIntervals(_ reports: [Report]) -> [LatencyRecorder.Buckets]? {
        let count = reports.map(\.series.count).min() ?? 0
        let all = reports.compactMap(\.histograms.handshakeUsByInterval)
        guard all.count == reports.count, all.allSatisfy({ $0.count >= count }) else { return nil }
        return (0..<count).map { i in
            var r = LatencyRecorder()
            for shard in all { r.add(LatencyRecorder(shard[i])) }
            return r.buckets
        }
    }

    static func mergedSummary(_ reports: [Report], series: Report.Series, milestones: [Report.Milestone],
                              histogram: Histogram<UInt64>) -> Report.Summary {
        func total(_ path: KeyPath<Report.Summary, Int>) -> Int { reports.reduce(0) { $0 + $1.summary[keyPath: path] } }
        let fractions = ReportRules.onlineFractions(series)
        let utilization = ReportRules.utilization(series)
        let events = reports.map(\.summary.eventsProcessed)
        func optionalTotal(_ path: KeyPath<Report.Summary, Int?>) -> Int? {
            let n = reports.reduce(0) { $0 + ($1.summary[keyPath: path] ?? 0) }
            return n > 0 ? n : nil
        }
        var summary = Report.Summary(
            devices: total(\.devices),
            durationS: reports.map(\.summary.durationS).max() ?? 0,
            onlineFractionMin: ReportRules.onlineMinimum(fractions) ?? reports.map(\.summary.onlineFractionMin).min() ?? 0,
            onlineFractionFinal: fractions.last ?? reports.map(\.summary.onlineFractionFinal).min() ?? 0,
            connectAttempts: total(\.connectAttempts), connects: total(\.connects), disconnects: total(\.disconnects),
            handshakeTimeouts: total(\.handshakeTimeouts), ackTimeouts: total(\.ackTimeouts), rejects: total(\.rejects),
            backendCrashes: reports.map(\.summary.backendCrashes).max() ?? 0,
            recoveryS: ReportRules.recoverySeconds(milestones),
            handshakeMs: ReportRules.percentiles(histogram),
            dbUtilizationMax: utilization?.max ?? reports.map(\.summary.dbUtilizationMax).max() ?? 0,
            dbUtilizationMean: utilization?.mean ?? reports.map(\.summary.dbUtilizationMean).max() ?? 0,
            backendMemoryPeakBytes: reports.map(\.summary.backendMemoryPeakBytes).max() ?? 0,
            eventsProcessed: events.contains(nil) ? nil : events.reduce(0) { $0 + $1! },
            wallS: reports.compactMap(\.summary.wallS).max())
        summary.dnsFailures = optionalTotal(\.dnsFailures)
        summary.featureErrors = optionalTotal(\.featureErrors)
        func causes(_ path: KeyPath<Report.Summary, [String: Int]?>) -> [String: Int]? {
            let all = reports.compactMap { $0.summary[keyPath: path] }
            return all.isEmpty ? nil : all.reduce(into: [:]) { sum, c in sum.merge(c, uniquingKeysWith: +) }
        }
        summary.disconnectsByCause = causes(\.disconnectsByCause)
        summary.failedConnectsByCause = causes(\.failedConnectsByCause)
        return summary
    }

    static func mergedStorm(_ reports: [Report], summary: Report.Summary) -> Report.Storm {
        let episodes = joinedEpisodes(reports.map(\.storm.massDisconnects), window: (reports.first?.series.intervalS ?? 0) / 2)
        return ReportRules.storm(episodes: episodes, attempts: summary.connectAttempts, connects: summary.connects,
                                 peakReconnectRatePerS: mergedAttemptsBySecond(reports).map { Double($0.map { $0[1] }.max() ?? 0) }
                                    ?? reports.reduce(0) { $0 + $1.storm.peakReconnectRatePerS })
    }

    /// Every shard's connect attempts per second added, second by second, when each report has
    /// them (live reports): the fleet's busiest second is then exact.
    static func mergedAttemptsBySecond(_ reports: [Report]) -> [[Int64]]? {
        let all = reports.map(\.histograms.connectAttemptsBySecond)
        guard !all.contains(where: { $0 == nil }) else { return nil }
        var sum: [Int64: Int64] = [:]
        for shard in all { for pair in shard! where pair.count == 2 { sum[pair[0], default: 0] += pair[1] } }
        return sum.sorted { $0.key < $1.key }.map { [$0.key, $0.value] }
    }

    /// One cause's episodes of different shards within `window` seconds of the first are one
    /// mass disconnect: the earliest time, every shard's devices, the slowest shard's times back
    /// (measured from the earliest). A shard's own episodes never join each other: its recorder
    /// already decided they were distinct.
    static func joinedEpisodes(_ perShard: [[Report.MassDisconnect]], window: Double) -> [Report.MassDisconnect] {
        let all = perShard.enumerated().flatMap { k, episodes in episodes.map { (shard: k, episode: $0) } }
            .sorted { ($0.episode.tS, $0.shard) < ($1.episode.tS, $1.shard) }
        var joined: [(episode: Report.MassDisconnect, shards: Set<Int>, allBack50: Bool, allBack95: Bool)] = []
        for (shard, e) in all {
            if let k = joined.lastIndex(where: { $0.episode.cause == e.cause && e.tS - $0.episode.tS <= window && !$0.shards.contains(shard) }) {
                let offset = e.tS - joined[k].episode.tS
                joined[k].episode.devices += e.devices
                joined[k].shards.insert(shard)
                joined[k].allBack50 = joined[k].allBack50 && e.to50PctS != nil
                joined[k].allBack95 = joined[k].allBack95 && e.to95PctS != nil
                joined[k].episode.to50PctS = joined[k].allBack50 ? max(joined[k].episode.to50PctS ?? 0, offset + (e.to50PctS ?? 0)) : nil
                joined[k].episode.to95PctS = joined[k].allBack95 ? max(joined[k].episode.to95PctS ?? 0, offset + (e.to95PctS ?? 0)) : nil
            } else {
                joined.append((e, [shard], e.to50PctS != nil, e.to95PctS != nil))
            }
        }
        return joined.map(\.episode)
    }

    /// Events the drivers recorded (timeline, crashes) are the union, identical ones once; the
    /// fleet's story (saturation, storms, collapse, recovery) is told again from the merged
    /// series by the tracker every run uses, not pieced together from the shards' own stories.
    static func mergedMilestones(_ reports: [Report], series: Report.Series) -> [Report.Milestone] {
        var seen = Set<String>()
        var counted: [String: Int] = [:]   // key → index in `out`
        var out: [Report.Milestone] = []
        for m in reports.flatMap(\.milestones) where !MilestoneTracker.derivedKinds.contains(m.kind) {
            if let template = m.template, let counts = m.counts {
                let key = "\(m.tS)|\(m.kind.rawValue)|\(template)"
                if let k = counted[key], let sum = out[k].counts, sum.count == counts.count {
                    out[k].counts = zip(sum, counts).map { $0 + $1 }
                    out[k].detail = Report.Milestone.fill(template, out[k].counts!)
                } else {
                    counted[key] = out.count
                    out.append(m)
                }
            } else if seen.insert("\(m.tS)|\(m.kind.rawValue)|\(m.detail)").inserted {
                out.append(m)
            }
        }
        out += MilestoneTracker.derive(from: series)
        return out.enumerated().sorted { ($0.element.tS, $0.offset) < ($1.element.tS, $1.offset) }.map(\.element)
    }
}

extension Report {
    /// The report of its first `n` intervals, as far as the series tell: the series, their
    /// interval histograms and the milestones up to the n-th interval's end (the totals stay the
    /// report's). What a merge of shards that closed different numbers of intervals so far takes.
    public func prefix(intervals n: Int) -> Report {
        guard n < series.count else { return self }
        var r = self
        var s = Report.Series(intervalS: series.intervalS)
        s.tS = Array(series.tS.prefix(n)); s.online = Array(series.online.prefix(n)); s.eligible = Array(series.eligible.prefix(n))
        s.connects = Array(series.connects.prefix(n)); s.disconnects = Array(series.disconnects.prefix(n))
        s.connectAttempts = Array(series.connectAttempts.prefix(n)); s.handshakeTimeouts = Array(series.handshakeTimeouts.prefix(n))
        s.ackTimeouts = Array(series.ackTimeouts.prefix(n)); s.rejects = Array(series.rejects.prefix(n)); s.crashes = Array(series.crashes.prefix(n))
        s.dbUtilization = Array(series.dbUtilization.prefix(n)); s.dbWaitS = Array(series.dbWaitS.prefix(n))
        s.pendingHandshakes = Array(series.pendingHandshakes.prefix(n)); s.backendMemoryBytes = Array(series.backendMemoryBytes.prefix(n))
        s.handshakeP50Ms = Array(series.handshakeP50Ms.prefix(n)); s.handshakeP99Ms = Array(series.handshakeP99Ms.prefix(n))
        r.series = s
        if let byInterval = histograms.handshakeUsByInterval { r.histograms.handshakeUsByInterval = Array(byInterval.prefix(n)) }
        let end = s.tS.last ?? 0
        r.milestones = milestones.filter { $0.tS <= end }
        r.histograms.connectAttemptsBySecond = histograms.connectAttemptsBySecond?.filter { Double($0[0]) < end }
        return r
    }
}
