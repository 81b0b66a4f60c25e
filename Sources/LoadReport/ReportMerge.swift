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
/// - **bounds**: the peak reconnect rate is the sum of the shards' peaks (an upper bound: they
///   need not be the same second). Within one run, the loops' seconds add exactly (`Recorder.absorb`).
/// - Milestones: recorded events (the scheduled timeline, applied by every shard; crashes) are
///   the union, identical ones once; the fleet's story (saturation, storms, collapse, recovery)
///   and the recovery time are derived again from the merged series (`ReportRules`,
///   `MilestoneTracker`), by the rules a single run uses.
public enum ReportMerge {
    public static func merge(_ reports: [Report]) throws -> Report {
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
                            histograms: Report.Histograms(handshakeUs: histogram, byInterval: mergedIntervals(reports)))
        var incomplete = reports.enumerated().compactMap { i, r in r.incomplete.map { "shard report \(i + 1): \($0)" } }
        // A shard that stopped early: the merged series ends where it does.
        let covered = reports.map(\.series.count).max() ?? 0
        for (i, r) in reports.enumerated() where r.series.count < covered && r.incomplete == nil {
            incomplete.append("shard report \(i + 1) stopped at t=\(Int(r.series.tS.last ?? 0))s (\(r.series.count) of \(covered) intervals)")
        }
        if let missing = try missingShards(reports) { incomplete.append(missing) }
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
        let episodes = reports.flatMap(\.storm.massDisconnects).sorted { $0.tS < $1.tS }
        return ReportRules.storm(episodes: episodes, attempts: summary.connectAttempts, connects: summary.connects,
                                 peakReconnectRatePerS: reports.reduce(0) { $0 + $1.storm.peakReconnectRatePerS })
    }

    /// Events the drivers recorded (timeline, crashes) are the union, identical ones once; the
    /// fleet's story (saturation, storms, collapse, recovery) is told again from the merged
    /// series by the tracker every run uses, not pieced together from the shards' own stories.
    static func mergedMilestones(_ reports: [Report], series: Report.Series) -> [Report.Milestone] {
        var seen = Set<String>()
        var out: [Report.Milestone] = []
        for m in reports.flatMap(\.milestones) where !MilestoneTracker.derivedKinds.contains(m.kind)
            && seen.insert("\(m.tS)|\(m.kind.rawValue)|\(m.detail)").inserted {
            out.append(m)
        }
        out += MilestoneTracker.derive(from: series)
        return out.enumerated().sorted { ($0.element.tS, $0.offset) < ($1.element.tS, $1.offset) }.map(\.element)
    }
}
