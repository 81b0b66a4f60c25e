import Foundation

/// Renders a report as a terminal summary or as Markdown.
public enum TextRenderer {
    public struct TimelineLine: Equatable {
        public var start: Double
        public var end: Double
        public var kind: Report.Milestone.Kind
        public var detail: String
        public var count: Int
    }

    /// The story in a few lines: scheduled events, the first collapse of the fleet and its
    /// recovery are printed one by one; between two of them, each other kind (crashes,
    /// saturation, timeouts, storms, and the rebounds and relapses of a crash loop) is printed
    /// once, at its first occurrence, with a count and the span it covers.
    public static func condensedTimeline(_ report: Report) -> [TimelineLine] {
        func isAnchor(_ m: Report.Milestone) -> Bool {
            switch m.kind {
            case .timeline, .recovered: return true
            case .fleetCollapse: return !m.detail.hasPrefix("relapse")
            default: return false
            }
        }
        var lines: [TimelineLine] = []
        var phase: [Report.Milestone.Kind: Int] = [:]   // kind -> its line in the current phase
        for m in report.milestones {
            if isAnchor(m) {
                lines.append(TimelineLine(start: m.tS, end: m.tS, kind: m.kind, detail: m.detail, count: 1))
                phase = [:]
            } else if let i = phase[m.kind] {
                lines[i].end = m.tS
                lines[i].count += 1
            } else {
                phase[m.kind] = lines.count
                lines.append(TimelineLine(start: m.tS, end: m.tS, kind: m.kind, detail: m.detail, count: 1))
            }
        }
        return lines
    }

    static func label(_ kind: Report.Milestone.Kind) -> String {
        switch kind {
        case .timeline: return "event"
        case .dbSaturated: return "db saturated"
        case .timeouts: return "timeouts"
        case .reconnectStorm: return "reconnect storm"
        case .backendCrash: return "backend crash"
        case .fleetCollapse: return "FLEET COLLAPSE"
        case .rebound: return "rebound"
        case .recovered: return "RECOVERED"
        }
    }

    static func timelineText(_ line: TimelineLine, clock: ScenarioClock) -> String {
        if line.count > 1 {
            return "\(clock.label(line.start))–\(clock.label(line.end))  \(label(line.kind)) ×\(line.count) (first: \(line.detail))"
        }
        return "\(clock.label(line.start))  \(label(line.kind)): \(line.detail)"
    }

    static func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "—" }
    static func ms(_ v: Double?) -> String { v.map { $0 >= 1000 ? String(format: "%.2f s", $0 / 1000) : String(format: "%.0f ms", $0) } ?? "—" }
    static func seconds(_ v: Double?) -> String { v.map { ScenarioClock.duration($0) } ?? "—" }

    static func summaryRows(_ report: Report) -> [(String, String)] {
        let s = report.summary, st = report.storm
        var rows: [(String, String)] = [
            ("devices", "\(s.devices)"),
            ("scenario time", ScenarioClock.duration(s.durationS)),
            ("online fraction min / final", "\(percent(s.onlineFractionMin)) / \(percent(s.onlineFractionFinal))"),
            ("connect attempts / connects", "\(s.connectAttempts) / \(s.connects)"),
            ("handshake p50 / p90 / p99 / max", "\(ms(s.handshakeMs.p50)) / \(ms(s.handshakeMs.p90)) / \(ms(s.handshakeMs.p99)) / \(ms(s.handshakeMs.max))"),
            ("handshake / heartbeat timeouts", "\(s.handshakeTimeouts) / \(s.ackTimeouts)"),
            ("rejected", "\(s.rejects)"),
            ("backend crashes", "\(s.backendCrashes)"),
            ("peak backend memory", ReportFormat.bytes(s.backendMemoryPeakBytes)),
            ("db utilization mean / max", "\(percent(s.dbUtilizationMean)) / \(percent(s.dbUtilizationMax))"),
            ("recovery", s.recoveryS.map { ScenarioClock.duration($0) + " after the last mitigation" } ?? "—"),
            ("retry amplification", st.retryAmplification.map { String(format: "%.2f attempts per connect", $0) } ?? "—"),
            ("peak reconnect rate", String(format: "%.0f/s", st.peakReconnectRatePerS)),
            ("mass disconnects", "\(st.massDisconnects.count)"
                + (st.massDisconnects.isEmpty ? "" : "; median time back to 50% \(seconds(st.timeTo50PctSMedian)), to 95% \(seconds(st.timeTo95PctSMedian))")),
        ]
        if let n = s.dnsFailures { rows.append(("DNS failures", "\(n) connect attempts (the name did not resolve)")) }
        if let n = s.featureErrors { rows.append(("feature errors", "\(n) error replies, sessions kept")) }
        if let events = s.eventsProcessed, let wall = s.wallS {
            rows.append(("simulation", String(format: "%d events in %.2f s (%.1f M events/s)", events, wall,
                                                wall > 0 ? Double(events) / wall / 1e6 : 0)))
        }
        return rows
    }

    /// The terminal summary: the story as a short timeline, then the figures.
    public static func terminal(_ report: Report) -> String {
        let clock = ScenarioClock(start: report.clockStart)
        var out = "\(report.scenario) (\(report.mode), seed \(report.seed))"
        if let incomplete = report.incomplete { out += "  INCOMPLETE: \(incomplete)" }
        out += "\n\nTimeline\n"
        let lines = condensedTimeline(report)
        if lines.isEmpty { out += "  (no milestones: the fleet stayed healthy)\n" }
        for line in lines { out += "  " + timelineText(line, clock: clock) + "\n" }
        out += "\nSummary\n"
        let rows = summaryRows(report)
        let width = rows.map(\.0.count).max() ?? 0
        for (k, v) in rows { out += "  " + k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v + "\n" }
        if let db = report.database {
            out += "\nDatabase (\(db.rows) rows, \(db.workers) workers)\n"
            for line in db.summaryLines { out += "  " + line + "\n" }
            for w in db.warnings { out += "  warning: " + w + "\n" }
        }
        if !report.thresholds.isEmpty {
            out += "\nThresholds\n"
            for t in report.thresholds {
                let verdict = t.ok.map { $0 ? "ok  " : "FAIL" } ?? "—   "
                out += "  \(verdict) \(t.metric): \(t.expression)" + (t.value.map { " (measured \(format($0)))" } ?? "") + "\n"
            }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.4g", v)
    }

    /// Markdown: suits a CI job summary or a postmortem document.
    public static func markdown(_ report: Report) -> String {
        let clock = ScenarioClock(start: report.clockStart)
        var out = "# \(report.scenario)\n\n"
        out += "Mode `\(report.mode)`, seed \(report.seed)"
        if let start = report.clockStart { out += ", clock starts \(start)" }
        out += ".\n\n"
        if let incomplete = report.incomplete { out += "> **Incomplete run:** \(incomplete). The figures cover what was measured.\n\n" }
        out += "## Timeline\n\n| time | milestone | detail |\n|---|---|---|\n"
        for line in condensedTimeline(report) {
            let time = line.count > 1 ? "\(clock.label(line.start))–\(clock.label(line.end))" : clock.label(line.start)
            let detail = line.count > 1 ? "×\(line.count); first: \(line.detail)" : line.detail
            out += "| \(time) | \(label(line.kind)) | \(detail.replacingOccurrences(of: "|", with: "\\|")) |\n"
        }
        out += "\n## Summary\n\n| metric | value |\n|---|---|\n"
        for (k, v) in summaryRows(report) { out += "| \(k) | \(v) |\n" }
        if !report.storm.massDisconnects.isEmpty {
            out += "\n## Mass disconnects\n\n| time | cause | devices | back to 50% | back to 95% |\n|---|---|---|---|---|\n"
            for m in report.storm.massDisconnects.prefix(50) {
                out += "| \(clock.label(m.tS)) | \(m.cause) | \(m.devices) | \(seconds(m.to50PctS)) | \(seconds(m.to95PctS)) |\n"
            }
            if report.storm.massDisconnects.count > 50 { out += "\n(\(report.storm.massDisconnects.count - 50) more in report.json)\n" }
        }
        if let db = report.database {
            out += "\n## Database\n\n\(db.rows) rows, \(db.workers) workers.\n\n"
            for line in db.summaryLines { out += "- \(line)\n" }
            for w in db.warnings { out += "\n> **Warning:** \(w)\n" }
        }
        if !report.thresholds.isEmpty {
            out += "\n## Thresholds\n\n| metric | expression | measured | result |\n|---|---|---|---|\n"
            for t in report.thresholds {
                out += "| \(t.metric) | `\(t.expression)` | \(t.value.map(format) ?? "—") | \(t.ok.map { $0 ? "pass" : "**fail**" } ?? "not evaluated") |\n"
            }
        }
        return out
    }
}
