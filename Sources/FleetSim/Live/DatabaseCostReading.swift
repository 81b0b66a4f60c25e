import DeviceModel
import Foundation
import LoadReport

/// Reads a reference backend's stated-cost database from its `/metrics` (every process), for the
/// live report's `database` section and the line printed at start. A target that is not a
/// reference backend has none of these series: nothing is read, nothing is said.
enum DatabaseCostReading {
    static let kinds = ["scan", "indexed", "touch"]

    /// nil when no scraped text has the reference backend's database series.
    static func read(_ texts: [PrometheusText], scenario: Scenario, timeScale: Double) -> DatabaseCosts? {
        let ours = texts.filter { $0.value(BackendMetricName.databaseRows) != nil }
        guard !ours.isEmpty else { return nil }
        func total(_ name: String, _ kind: String) -> Double {
            ours.reduce(0) { $0 + ($1.value(name, labels: ["kind": kind]) ?? 0) }
        }
        func largest(_ name: String, _ kind: String) -> Double {
            ours.compactMap { $0.value(name, labels: ["kind": kind]) }.max() ?? 0
        }
        let rows = Int(ours.compactMap { $0.value(BackendMetricName.databaseRows) }.max() ?? 0)
        let workers = Int(ours.reduce(0) { $0 + ($1.sum(BackendMetricName.databaseWorkers) ?? 0) })
        var queries: [DatabaseCosts.Query] = []
        var warnings: [String] = []
        for kind in kinds {
            let count = total(BackendMetricName.databaseQuerySeconds + "_count", kind)
            let real = total(BackendMetricName.databaseQuerySeconds + "_sum", kind)
            let stated = largest(BackendMetricName.databaseStatedCostSeconds, kind)
            let padding = total(BackendMetricName.databasePaddingSecondsTotal, kind)
            let slower = total(BackendMetricName.databaseSlowerTotal, kind)
            let slowerReal = total(BackendMetricName.databaseSlowerSecondsTotal, kind)
            let slowerStated = total(BackendMetricName.databaseSlowerStatedSecondsTotal, kind)
            let probe = largest(BackendMetricName.databaseProbeSeconds, kind)
            guard count > 0 || probe > 0 else { continue }
            let q = DatabaseCosts.Query(
                kind: kind, count: Int(count), realMsMean: count > 0 ? real / count * 1e3 : nil,
                probeMs: probe > 0 ? probe * 1e3 : nil, statedMs: stated > 0 ? stated * 1e3 : nil,
                paddingMsMean: stated > 0 && count > 0 ? padding / count * 1e3 : nil,
                slower: Int(slower), slowerRatio: slowerStated > 0 ? slowerReal / slowerStated : nil)
            queries.append(q)
            if let w = warning(q, rows: rows, scenario: scenario, timeScale: timeScale) { warnings.append(w) }
        }
        return DatabaseCosts(rows: rows, workers: workers, queries: queries, warnings: warnings)
    }

    /// The one line for a query kind slower than stated: at start (its probe), or over the run
    /// when its mean real time is above its stated cost (the database's capacity was then below
    /// the stated one) or more than 10% of its queries were slower. A few preempted queries are
    /// not worth a warning: a worker takes their excess from its padding to come (`CostHold`),
    /// and the summary line counts them anyway.
    static func warning(_ q: DatabaseCosts.Query, rows: Int, scenario: Scenario, timeScale: Double) -> String? {
        guard let stated = q.statedMs, stated > 0 else { return nil }
        // A `touch` flush's real time covers all its updates; its stated cost is per update.
        let probeSlower = (q.probeMs ?? 0) > stated
        let meanSlower = q.kind != "touch" && (q.realMsMean ?? 0) > stated
        let runSlower = q.count > 0 && Double(q.slower) > 0.1 * Double(q.count)
        guard probeSlower || meanSlower || runSlower else { return nil }
        let real: Double
        if meanSlower, let mean = q.realMsMean { real = mean }
        else if runSlower, let ratio = q.slowerRatio { real = stated * ratio } else { real = q.probeMs ?? stated }
        let share = q.count > 0 && q.slower > 0 ? String(format: " in %.0f%% of %d queries", 100 * Double(q.slower) / Double(q.count), q.count) : " at start"
        let statedKey: String
        switch q.kind {
        case "scan": statedKey = "lower backend.database.rows (a scan reads them all) or raise backend.database.scan_cost_per_row"
        case "indexed": statedKey = "raise backend.database.indexed_cost"
        default: statedKey = "raise backend.database.heartbeat_cost"
        }
        return StatedCostWarning.line(kind: q.kind, realSeconds: real / 1e3, statedSeconds: stated / 1e3,
                                      rows: q.kind == "scan" ? rows : nil)
            + share + "; the run's database is slower than the scenario states, so its story comes sooner than the model's: "
            + statedKey + String(format: " (stated = scenario cost ÷ time_scale %g), or run on a quieter machine", timeScale)
    }
}

extension LiveRunner {
    /// The database's stated and real costs from the last scrape of every endpoint.
    func databaseCosts() -> DatabaseCosts? {
        DatabaseCostReading.read(Array(lastScraped.values), scenario: scenario, timeScale: options.timeScale)
    }

    /// The database line and any warning, for the operator, before the devices start.
    func announceDatabase() {
        guard let db = databaseCosts() else { return }
        options.notice?("database: \(db.rows) rows, \(db.workers) workers; " + db.summaryLines.joined(separator: "; "))
        for w in db.warnings {
            logger.warning("\(w)")
            options.notice?("warning: " + w)
        }
    }
}
