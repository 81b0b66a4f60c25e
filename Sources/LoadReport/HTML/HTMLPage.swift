import Foundation

/// The report as one self-contained HTML page: inline CSS and inline SVG charts, no scripts, no
/// fonts, no requests, so it opens offline, attaches to a CI run as one file and prints.
///
/// Charts share one time axis. Milestones are drawn on every chart as numbered markers, keyed by a
/// table above the charts: scheduled events and recoveries one by one (vertical lines), every other
/// kind folded into spans of nearby occurrences (a bar along the top), so a sixteen-hour cascade
/// with hundreds of crashes stays readable.
public enum HTMLRenderer {
    public static func render(_ report: Report) -> String {
        let clock = ScenarioClock(start: report.clockStart)
        let end = max(report.series.tS.last ?? 0, report.summary.durationS)
        let markers = chartMarkers(report.milestones, span: end)
        var body = header(report)
        body += thresholdSection(report)
        body += timelineSection(TextRenderer.condensedTimeline(report), clock: clock)
        body += "<section id=\"charts\"><h2>Over time</h2>\n" + markerKey(markers, clock: clock) + "<div class=\"grid\">\n"
        for chart in charts(report) {
            body += TimeSeriesChart.render(chart, series: report.series, markers: markers, clock: clock,
                                 onClock: report.clockStart != nil, end: end)
        }
        body += "</div></section>\n"
        body += summarySection(report)
        body += stormSection(report, clock: clock)
        body += "<footer>FleetSim · \(escape(Report.schemaName)) · the data behind this page is in report.json</footer>\n"
        return page(title: "FleetSim · \(report.scenario)", body: body)
    }

    /// A whole page around `body`, with the shared style sheet; `title` is escaped here.
    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>\(css)</style>
        </head>
        <body>
        \(body)</body>
        </html>

        """
    }

    // MARK: Sections

    static func verdict(_ report: Report) -> (cls: String, text: String) {
        let failed = report.thresholds.filter { $0.ok == false }.count
        if report.incomplete != nil { return ("incomplete", "INCOMPLETE") }
        if failed > 0 { return ("fail", "FAIL · \(failed) of \(report.thresholds.count) thresholds failed") }
        if report.thresholds.isEmpty { return ("none", "no thresholds") }
        if report.thresholds.contains(where: { $0.ok == nil }) { return ("none", "thresholds not evaluated") }
        return ("pass", "PASS · \(report.thresholds.count) of \(report.thresholds.count) thresholds held")
    }

    static func header(_ report: Report) -> String {
        let v = verdict(report)
        var meta = "\(report.mode) · seed \(report.seed) · \(report.summary.devices) devices · \(ScenarioClock.duration(report.summary.durationS)) of scenario time"
        if let start = report.clockStart { meta += " · clock starts \(start)" }
        var out = "<header><h1>\(escape(report.scenario))</h1><p class=\"meta\">\(escape(meta))</p>"
        out += "<p class=\"verdict \(v.cls)\">\(escape(v.text))</p>"
        if let incomplete = report.incomplete {
            out += "<p class=\"warning\">Incomplete run: \(escape(incomplete)). The figures cover what was measured.</p>"
        }
        return out + "</header>\n"
    }

    static func thresholdSection(_ report: Report) -> String {
        guard !report.thresholds.isEmpty else { return "" }
        var out = "<section id=\"thresholds\"><h2>Thresholds</h2><table><thead><tr><th>result</th><th>metric</th><th>condition</th><th>measured</th></tr></thead><tbody>\n"
        for t in report.thresholds {
            let (cls, text) = t.ok.map { $0 ? ("pass", "pass") : ("fail", "FAIL") } ?? ("none", "—")
            out += "<tr class=\"\(cls)\"><td><span class=\"badge \(cls)\">\(text)</span></td><td>\(escape(t.metric))</td>"
            out += "<td><code>\(escape(t.expression))</code></td><td class=\"num\">\(escape(JUnitRenderer.measured(t)))</td></tr>\n"
        }
        return out + "</tbody></table></section>\n"
    }

    static func timelineSection(_ lines: [TextRenderer.TimelineLine], clock: ScenarioClock) -> String {
        var out = "<section id=\"timeline\"><h2>Timeline</h2>"
        guard !lines.isEmpty else { return out + "<p>No milestones: the fleet stayed healthy.</p></section>\n" }
        out += "<table><thead><tr><th>time</th><th>milestone</th><th>detail</th></tr></thead><tbody>\n"
        for line in lines {
            out += "<tr><td class=\"nowrap\">\(escape(time(line, clock)))</td><td class=\"nowrap\">\(escape(TextRenderer.label(line.kind)))</td>"
            out += "<td>\(escape(line.count > 1 ? "×\(line.count); first: \(line.detail)" : line.detail))</td></tr>\n"
        }
        return out + "</tbody></table></section>\n"
    }

    static func time(_ line: TextRenderer.TimelineLine, _ clock: ScenarioClock) -> String {
        line.count > 1 ? "\(clock.label(line.start))–\(clock.label(line.end))" : clock.label(line.start)
    }

    /// The markers of the charts: scheduled events and recoveries each on their own; every other
    /// kind folded into spans where one occurrence follows another within a tenth of the run.
    static func chartMarkers(_ milestones: [Report.Milestone], span: Double) -> [TextRenderer.TimelineLine] {
        let gap = span / 10
        var out: [TextRenderer.TimelineLine] = []
        var open: [Report.Milestone.Kind: Int] = [:]   // kind -> its current span in `out`
        for m in milestones.sorted(by: { $0.tS < $1.tS }) {
            if m.kind != .timeline && m.kind != .recovered, let i = open[m.kind], m.tS - out[i].end <= gap {
                out[i].end = m.tS
                out[i].count += 1
                continue
            }
            open[m.kind] = out.count
            out.append(TextRenderer.TimelineLine(start: m.tS, end: m.tS, kind: m.kind, detail: m.detail, count: 1))
        }
        return out.enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }.map(\.element)
    }

    static func markerKey(_ markers: [TextRenderer.TimelineLine], clock: ScenarioClock) -> String {
        guard !markers.isEmpty else { return "" }
        var out = "<table class=\"markers\"><tbody>\n"
        for (i, m) in markers.enumerated() {
            let detail = m.count > 1 ? "×\(m.count); first: \(m.detail)" : m.detail
            out += "<tr><td><span class=\"marker-key\" style=\"background:\(TimeSeriesChart.color(m.kind))\">\(i + 1)</span></td>"
            out += "<td class=\"nowrap\">\(escape(time(m, clock)))</td><td class=\"nowrap\">\(escape(TextRenderer.label(m.kind)))</td><td>\(escape(detail))</td></tr>\n"
        }
        return out + "</tbody></table>\n"
    }

    static func summarySection(_ report: Report) -> String {
        var out = "<section id=\"summary\"><h2>Summary</h2><table class=\"kv\"><tbody>\n"
        for (k, v) in TextRenderer.summaryRows(report) {
            out += "<tr><th>\(escape(k))</th><td>\(escape(v))</td></tr>\n"
        }
        return out + "</tbody></table></section>\n"
    }

    static func stormSection(_ report: Report, clock: ScenarioClock) -> String {
        let st = report.storm
        func s(_ v: Double?) -> String { v.map { ScenarioClock.duration($0) } ?? "—" }
        var out = "<section id=\"storm\"><h2>Reconnect storm</h2><table class=\"kv\"><tbody>\n"
        let rows: [(String, String)] = [
            ("retry amplification", st.retryAmplification.map { String(format: "%.2f attempts per connect", $0) } ?? "—"),
            ("peak reconnect rate", String(format: "%.0f attempts/s", st.peakReconnectRatePerS)),
            ("mass disconnects", "\(st.massDisconnects.count)"),
            ("median time back to 50% / 95%", "\(s(st.timeTo50PctSMedian)) / \(s(st.timeTo95PctSMedian))"),
        ]
        for (k, v) in rows { out += "<tr><th>\(escape(k))</th><td>\(escape(v))</td></tr>\n" }
        out += "</tbody></table>\n"
        if !st.massDisconnects.isEmpty {
            out += "<table><thead><tr><th>time</th><th>cause</th><th>devices</th><th>back to 50%</th><th>back to 95%</th></tr></thead><tbody>\n"
            for m in st.massDisconnects.prefix(30) {
                out += "<tr><td class=\"nowrap\">\(escape(clock.label(m.tS)))</td><td>\(escape(m.cause))</td><td class=\"num\">\(m.devices)</td>"
                out += "<td class=\"num\">\(escape(s(m.to50PctS)))</td><td class=\"num\">\(escape(s(m.to95PctS)))</td></tr>\n"
            }
            out += "</tbody></table>\n"
            if st.massDisconnects.count > 30 { out += "<p class=\"note\">\(st.massDisconnects.count - 30) more in report.json.</p>\n" }
        }
        return out + "</section>\n"
    }

    // MARK: Charts

    static func charts(_ report: Report) -> [TimeSeriesChart] {
        let s = report.series
        func d(_ v: [Int]) -> [Double?] { v.map { Double($0) } }
        return [
            TimeSeriesChart(id: "online", title: "Devices online", unit: .count, lines: [
                .init(name: "eligible", values: d(s.eligible), color: "#9aa4b1", dashed: true),
                .init(name: "online", values: d(s.online), color: "#1f6feb"),
            ]),
            TimeSeriesChart(id: "connects", title: "Connects and disconnects per interval", unit: .count, lines: [
                .init(name: "connects", values: d(s.connects), color: "#2da44e"),
                .init(name: "disconnects", values: d(s.disconnects), color: "#cf222e"),
            ]),
            TimeSeriesChart(id: "attempts", title: "Reconnect attempts per interval", unit: .count, lines: [
                .init(name: "connect attempts", values: d(s.connectAttempts), color: "#8250df"),
                .init(name: "handshake timeouts", values: d(s.handshakeTimeouts), color: "#d4a72c"),
                .init(name: "rejected", values: d(s.rejects), color: "#6e7781", dashed: true),
            ]),
            TimeSeriesChart(id: "latency", title: "Handshake latency", unit: .milliseconds, logScale: true, lines: [
                .init(name: "p50", values: s.handshakeP50Ms, color: "#1f6feb"),
                .init(name: "p99", values: s.handshakeP99Ms, color: "#cf222e"),
            ]),
            TimeSeriesChart(id: "db-utilization", title: "Database utilisation", unit: .fraction, lines: [
                .init(name: "utilisation", values: s.dbUtilization.map { $0 }, color: "#bc4c00"),
            ]),
            TimeSeriesChart(id: "db-wait", title: "Database queue wait", unit: .seconds, lines: [
                .init(name: "wait for a core", values: s.dbWaitS.map { $0 }, color: "#953800"),
            ]),
            TimeSeriesChart(id: "memory", title: "Backend memory", unit: .bytes, lines: [
                .init(name: "memory", values: s.backendMemoryBytes.map { Double($0) }, color: "#0a7b83"),
            ]),
            TimeSeriesChart(id: "pending", title: "Pending handshakes", unit: .count, lines: [
                .init(name: "pending", values: d(s.pendingHandshakes), color: "#8250df"),
            ]),
        ]
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static let css = """
    :root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #fff; --soft: #f6f8fa;
            --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; }
    * { box-sizing: border-box; }
    body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
           color: var(--fg); background: var(--bg); margin: 0 auto; padding: 16px 24px 32px; max-width: 1280px; }
    h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
    .meta, .note, footer { color: var(--muted); } footer { margin-top: 32px; font-size: 12px; }
    .verdict { display: inline-block; font-weight: 600; padding: 4px 10px; border-radius: 6px; margin: 6px 0; }
    .verdict.pass { background: #dafbe1; color: var(--pass); } .verdict.fail { background: #ffebe9; color: var(--fail); }
    .verdict.incomplete, .warning { background: #fff8c5; color: var(--warn); } .verdict.none { background: var(--soft); color: var(--muted); }
    .warning { padding: 6px 10px; border-radius: 6px; }
    table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
    th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
    thead th { background: var(--soft); font-weight: 600; } table.kv th { width: 34%; font-weight: 500; color: var(--muted); }
    td.num { text-align: right; font-variant-numeric: tabular-nums; } .nowrap { white-space: nowrap; }
    code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
    .badge { display: inline-block; min-width: 3.2em; text-align: center; border-radius: 10px; padding: 0 8px; font-weight: 600; font-size: 12px; color: #fff; }
    .badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); } .badge.none { background: #8c959f; }
    table.markers td { padding: 2px 8px; font-size: 13px; }
    .marker-key { display: inline-block; min-width: 20px; height: 20px; border-radius: 10px; color: #fff; text-align: center; font-size: 12px; line-height: 20px; font-weight: 600; }
    .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 12px 20px; }
    figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
    figcaption { font-weight: 600; margin: 4px 0 2px; }
    svg.chart { width: 100%; height: auto; display: block; }
    svg.chart text { font: 11px system-ui, sans-serif; fill: #59636e; }
    svg.chart .grid-line { stroke: #eaeef2; } svg.chart .axis { stroke: #8c959f; }
    svg.chart .marker-label { fill: #fff; font-weight: 600; font-size: 10px; }
    .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); }
    .legend span::before { content: ""; display: inline-block; width: 14px; height: 3px; margin-right: 5px; vertical-align: middle; background: var(--c); }
    .legend span.dashed::before { background: repeating-linear-gradient(90deg, var(--c) 0 4px, transparent 4px 7px); }
    @media (max-width: 600px) { .grid { grid-template-columns: 1fr; } body { padding: 8px; } }
    @media print {
      @page { size: A4; margin: 12mm; }
      body { max-width: none; padding: 0; font-size: 10pt; }
      * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
      .grid { grid-template-columns: 1fr 1fr; gap: 6px 12px; }
      h2 { break-after: avoid; page-break-after: avoid; } tr { break-inside: avoid; }
      #charts { break-before: page; }
    }
    """
}
