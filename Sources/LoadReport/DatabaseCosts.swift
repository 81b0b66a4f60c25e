/// What a live run's database measured of itself and what it did to honour its stated costs
/// (`database` in report.json; live runs against a reference backend only). A live replay's
/// story depends on how long queries hold the database, so the report says it: the real query
/// times, the stated costs, the padding slept, and every query kind slower than stated.
public struct DatabaseCosts: Codable, Sendable, Equatable {
    /// Rows in the devices table (the largest over the backend's processes: they share one file).
    public var rows: Int
    /// Database workers, over every backend process.
    public var workers: Int
    public var queries: [Query]
    /// One line per query kind that really took longer than its stated cost, with what to change.
    public var warnings: [String]

    public struct Query: Codable, Sendable, Equatable {
        /// `scan`, `indexed` or `touch` (one heartbeat's last_seen update; a flush writes many).
        public var kind: String
        /// Queries run (for `touch`: flushes).
        public var count: Int
        /// Mean real query time, in milliseconds of wall time (for `touch`: per flush).
        public var realMsMean: Double?
        /// Median real lookup measured at start, before any device connected.
        public var probeMs: Double?
        /// Stated cost per query (per update for `touch`), in milliseconds of wall time; nil: none stated.
        public var statedMs: Double?
        /// Mean padding slept per query to hold it for its stated cost.
        public var paddingMsMean: Double?
        /// Queries that really took longer than their stated cost (never shortened).
        public var slower: Int
        /// Their real time over their stated cost (1.3: 30% slower); nil when none was slower.
        public var slowerRatio: Double?

        public init(kind: String, count: Int, realMsMean: Double?, probeMs: Double?, statedMs: Double?,
                    paddingMsMean: Double?, slower: Int, slowerRatio: Double?) {
            self.kind = kind
            self.count = count
            self.realMsMean = realMsMean
            self.probeMs = probeMs
            self.statedMs = statedMs
            self.paddingMsMean = paddingMsMean
            self.slower = slower
            self.slowerRatio = slowerRatio
        }

        enum CodingKeys: String, CodingKey {
            case kind, count, slower
            case realMsMean = "real_ms_mean"
            case probeMs = "probe_ms"
            case statedMs = "stated_ms"
            case paddingMsMean = "padding_ms_mean"
            case slowerRatio = "slower_ratio"
        }
    }

    public init(rows: Int, workers: Int, queries: [Query], warnings: [String]) {
        self.rows = rows
        self.workers = workers
        self.queries = queries
        self.warnings = warnings
    }

    /// One line per query kind for the terminal and Markdown summaries: "scan 1,204 × 12.1 ms
    /// real (probe 11.8 ms), stated 81.7 ms, padded 69.6 ms".
    public var summaryLines: [String] {
        func ms(_ v: Double?) -> String {
            guard let v else { return "—" }
            return v >= 10 ? String(format: "%.1f ms", v) : v >= 0.1 ? String(format: "%.2f ms", v) : String(format: "%.1f µs", v * 1e3)
        }
        return queries.map { q in
            var line = q.kind
            if q.count > 0 { line += " \(q.count) × \(ms(q.realMsMean)) real" + (q.probeMs.map { " (\(ms($0)) at start)" } ?? "") }
            else if let p = q.probeMs { line += " \(ms(p)) real at start" }
            if let s = q.statedMs {
                line += ", stated \(ms(s))" + (q.kind == "touch" ? " per update" : "")
                if let pad = q.paddingMsMean { line += ", padded \(ms(pad))" }
            }
            if q.slower > 0 { line += ", \(q.slower) slower than stated" + (q.slowerRatio.map { String(format: " (%.2f×)", $0) } ?? "") }
            return line
        }
    }
}
