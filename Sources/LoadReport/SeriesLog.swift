import Foundation
import Histogram

/// `series.jsonl`: a live run's report, interval by interval, appended and flushed as it goes,
/// so that nothing measured is lost when the process is killed (`kill -9` included).
///
/// The first line describes the run; every later line holds one interval's row of the series,
/// and the run's milestones, summary, storm metrics and handshake histogram so far (its non-empty
/// buckets only: the full bucket array, encoded every interval, cost a live run more CPU than its
/// devices). `rebuild(path:)` turns the file back into the report of the intervals it holds
/// (`fleetsim report series.jsonl`).
///
/// Each line is one `write(2)`: once it returns, the line survives the process (`kill -9`
/// included); no `fsync`, which would guard against a power cut at the cost of a disk flush per
/// interval.
public final class SeriesLog {
    public static let schemaName = "fleetsim.series/2"

    struct Header: Codable {
        var schema: String
        var mode: String
        var scenario: String
        var seed: UInt64
        var clockStart: String?
        var intervalS: Double
        var thresholds: [[String]]
        var shard: String?
        enum CodingKeys: String, CodingKey {
            case schema, mode, scenario, seed, thresholds, shard
            case clockStart = "clock_start", intervalS = "interval_s"
        }
    }

    struct Line: Codable {
        var series: Report.Series
        var milestones: [Report.Milestone]
        var summary: Report.Summary
        var storm: Report.Storm
        /// The handshake histogram (microseconds) so far: `[value, count]` per non-empty bucket.
        var handshakeUs: [[UInt64]]
        /// This interval's handshakes (`Report.Histograms.handshakeUsByInterval`).
        var intervalHandshakeUs: LatencyRecorder.Buckets?
        /// Connect attempts of the seconds done since the last line, `[second, count]`
        /// (`Report.Histograms.connectAttemptsBySecond`; a second is done two seconds after it began).
        var attemptsBySecond: [[Int64]]?
        enum CodingKeys: String, CodingKey {
            case series, milestones, summary, storm
            case handshakeUs = "handshake_us", intervalHandshakeUs = "interval_handshake_us"
            case attemptsBySecond = "attempts_by_second"
        }
    }

    private let handle: FileHandle
    private var written = 0
    /// Entries of `connectAttemptsBySecond` already written.
    private var secondsWritten = 0
    private let encoder = JSONEncoder()

    public init(path: String, info: Recorder.RunInfo, intervalS: Double) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw ReportError("cannot create \(path)")
        }
        handle = h
        let header = Header(schema: SeriesLog.schemaName, mode: info.mode, scenario: info.scenario, seed: info.seed,
                            clockStart: info.clockStart, intervalS: intervalS,
                            thresholds: info.thresholds.map { [$0.metric, $0.expression] }, shard: info.shard)
        write(header)
    }

    /// Appends the intervals of `report` not yet written (normally one) and flushes.
    public func append(_ report: Report) {
        while written < report.series.count {
            var row = Report.Series(intervalS: report.series.intervalS)
            let i = written
            row.tS = [report.series.tS[i]]; row.online = [report.series.online[i]]; row.eligible = [report.series.eligible[i]]
            row.connects = [report.series.connects[i]]; row.disconnects = [report.series.disconnects[i]]
            row.connectAttempts = [report.series.connectAttempts[i]]
            row.handshakeTimeouts = [report.series.handshakeTimeouts[i]]; row.ackTimeouts = [report.series.ackTimeouts[i]]
            row.rejects = [report.series.rejects[i]]; row.crashes = [report.series.crashes[i]]
            row.dbUtilization = [report.series.dbUtilization[i]]; row.dbWaitS = [report.series.dbWaitS[i]]
            row.pendingHandshakes = [report.series.pendingHandshakes[i]]
            row.backendMemoryBytes = [report.series.backendMemoryBytes[i]]
            row.handshakeP50Ms = [report.series.handshakeP50Ms[i]]; row.handshakeP99Ms = [report.series.handshakeP99Ms[i]]
            let buckets = report.histograms.handshakeUs.recordedValues().map { [$0.value, $0.count] }
            let byInterval = report.histograms.handshakeUsByInterval
            var seconds: [[Int64]]?
            if let all = report.histograms.connectAttemptsBySecond {
                let end = Int64(report.series.tS[i].rounded(.down)) - 2
                let done = all[secondsWritten...].prefix { $0[0] <= end }
                seconds = Array(done)
                secondsWritten += done.count
            }
            write(Line(series: row, milestones: report.milestones, summary: report.summary, storm: report.storm,
                       handshakeUs: buckets, intervalHandshakeUs: byInterval.flatMap { i < $0.count ? $0[i] : nil },
                       attemptsBySecond: seconds))
            written += 1
        }
    }

    public func close() { try? handle.close() }

    private func write<T: Encodable>(_ value: T) {
        guard var data = try? encoder.encode(value) else { return }
        data.append(0x0A)
        handle.write(data)
    }

    /// The report of the intervals a `series.jsonl` holds; a truncated last line (the process was
    /// killed while writing it) is skipped.
    public static func rebuild(path: String) throws -> Report {
        let reader = Reader(path: path)
        guard var report = try reader.poll(final: true) else { throw ReportError("\(path): holds no interval yet") }
        report.incomplete = "rebuilt from \(path) (\(report.series.count) intervals)"
        return report
    }

    /// Follows a `series.jsonl` another process is writing: each `poll()` reads only the lines
    /// added since the last one (a line not yet complete waits for the next poll), so that
    /// following a long run costs the new lines, not the file.
    public final class Reader {
        public let path: String
        private var handle: FileHandle?
        private var pending = Data()
        private var header: Header?
        private var series: Report.Series?
        private var last: Line?
        private var byInterval: [LatencyRecorder.Buckets]? = []
        private var attemptsBySecond: [[Int64]]? = []
        private var lineNumber = 0

        public init(path: String) { self.path = path }

        /// Intervals read so far.
        public var count: Int { series?.count ?? 0 }

        /// The report of every interval read so far (nil: none yet, or the file does not exist
        /// yet). `final`: the writer is gone, and a last line without its newline is taken if it
        /// parses. A line that does not parse (but the writer's last one) is an error.
        public func poll(final: Bool = false) throws -> Report? {
            if handle == nil {
                guard let h = FileHandle(forReadingAtPath: path) else {
                    if final { throw ReportError("\(path): cannot read the file") }
                    return nil
                }
                handle = h
            }
            if let more = try? handle!.readToEnd(), !more.isEmpty { pending.append(more) }
            while let newline = pending.firstIndex(of: 0x0A) {
                let raw = pending[pending.startIndex..<newline]
                pending = pending[(newline + 1)...]
                lineNumber += 1
                try take(Data(raw), final: false)
            }
            if final, !pending.isEmpty {
                lineNumber += 1
                try? take(pending, final: true)   // the last line was being written
                pending = Data()
            }
            pending = Data(pending)
            return report()
        }

        private func take(_ raw: Data, final: Bool) throws {
            guard let header else {
                guard let h = try? JSONDecoder().decode(Header.self, from: raw), h.schema == SeriesLog.schemaName else {
                    throw ReportError("\(path):1:1: not a FleetSim series file (expected a first line with \"schema\": \"\(SeriesLog.schemaName)\")")
                }
                self.header = h
                series = Report.Series(intervalS: h.intervalS)
                return
            }
            _ = header
            let r: Line
            do { r = try JSONDecoder().decode(Line.self, from: raw) } catch {
                throw ReportError("\(path):\(lineNumber):1: not a series line: \(error)")
            }
            let s = r.series
            series!.tS += s.tS; series!.online += s.online; series!.eligible += s.eligible; series!.connects += s.connects
            series!.disconnects += s.disconnects; series!.connectAttempts += s.connectAttempts
            series!.handshakeTimeouts += s.handshakeTimeouts; series!.ackTimeouts += s.ackTimeouts; series!.rejects += s.rejects
            series!.crashes += s.crashes; series!.dbUtilization += s.dbUtilization; series!.dbWaitS += s.dbWaitS
            series!.pendingHandshakes += s.pendingHandshakes; series!.backendMemoryBytes += s.backendMemoryBytes
            series!.handshakeP50Ms += s.handshakeP50Ms; series!.handshakeP99Ms += s.handshakeP99Ms
            if let b = r.intervalHandshakeUs { byInterval?.append(b) } else { byInterval = nil }
            if let a = r.attemptsBySecond { attemptsBySecond? += a } else { attemptsBySecond = nil }
            last = r
        }

        private func report() -> Report? {
            guard let header, let series, let last else { return nil }
            var report = Report(mode: header.mode, scenario: header.scenario, seed: header.seed, clockStart: header.clockStart,
                                summary: last.summary, storm: last.storm, milestones: last.milestones,
                                series: series,
                                thresholds: header.thresholds.map { Report.ThresholdResult(metric: $0[0], expression: $0[1]) },
                                histograms: Report.Histograms(handshakeUs: SeriesLog.histogram(last.handshakeUs), byInterval: byInterval,
                                                              attemptsBySecond: attemptsBySecond))
            report.shard = header.shard
            return report
        }
    }

    /// A histogram with the recorder's layout (`LatencyRecorder.histogram`) holding these buckets.
    static func histogram(_ buckets: [[UInt64]]) -> Histogram<UInt64> {
        var h = LatencyRecorder.emptyHistogram
        for b in buckets where b.count == 2 { _ = h.record(b[0], count: b[1]) }
        return h
    }
}
