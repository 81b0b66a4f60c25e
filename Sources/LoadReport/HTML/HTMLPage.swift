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
            body += Chart.render(chart, series: report.series, markers: markers, clock: clock,
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
            out += "<tr><td><span class=\"marker-key\" style=\"background:\(Chart.color(m.kind))\">\(i + 1)</span></td>"
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

    static func charts(_ report: Report) -> [Chart] {
        let s = report.series
        func d(_ v: [Int]) -> [Double?] { v.map { Double($0) } }
        return [
            Chart(id: "online", title: "Devices online", unit: .count, lines: [
                .init(name: "eligible", values: d(s.eligible), color: "#9aa4b1", dashed: true),
                .init(name: "online", values: d(s.online), color: "#1f6feb"),
            ]),
            Chart(id: "connects", title: "Connects and disconnects per interval", unit: .count, lines: [
                .init(name: "connects", values: d(s.connects), color: "#2da44e"),
                .init(name: "disconnects", values: d(s.disconnects), color: "#cf222e"),
            ]),
            Chart(id: "attempts", title: "Reconnect attempts per interval", unit: .count, lines: [
                .init(name: "connect attempts", values: d(s.connectAttempts), color: "#8250df"),
                .init(name: "handshake timeouts", values: d(s.handshakeTimeouts), color: "#d4a72c"),
                .init(name: "rejected", values: d(s.rejects), color: "#6e7781", dashed: true),
            ]),
            Chart(id: "latency", title: "Handshake latency", unit: .milliseconds, logScale: true, lines: [
                .init(name: "p50", values: s.handshakeP50Ms, color: "#1f6feb"),
                .init(name: "p99", values: s.handshakeP99Ms, color: "#cf222e"),
            ]),
            Chart(id: "db-utilization", title: "Database utilisation", unit: .fraction, lines: [
                .init(name: "utilisation", values: s.dbUtilization.map { $0 }, color: "#bc4c00"),
            ]),
            Chart(id: "db-wait", title: "Database queue wait", unit: .seconds, lines: [
                .init(name: "wait for a core", values: s.dbWaitS.map { $0 }, color: "#953800"),
            ]),
            Chart(id: "memory", title: "Backend memory", unit: .bytes, lines: [
                .init(name: "memory", values: s.backendMemoryBytes.map { Double($0) }, color: "#0a7b83"),
            ]),
            Chart(id: "pending", title: "Pending handshakes", unit: .count, lines: [
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

/// One SVG line chart over scenario time.
struct Chart {
    enum Unit { case count, fraction, milliseconds, seconds, bytes }

    struct Line {
        var name: String
        var values: [Double?]
        var color: String
        var dashed = false
    }

    var id: String
    var title: String
    var unit: Unit
    var logScale = false
    var lines: [Line]

    static let width = 560.0, height = 260.0
    static let left = 64.0, right = 14.0, top = 56.0, bottom = 26.0
    /// Rows of marker badges above the plot.
    static let badgeRows = 3
    /// Points drawn per line at most; longer series keep each bucket's extremes.
    static let maxPoints = 600

    static func color(_ kind: Report.Milestone.Kind) -> String {
        switch kind {
        case .timeline: return "#1f6feb"
        case .dbSaturated: return "#bc4c00"
        case .timeouts: return "#9a6700"
        case .reconnectStorm: return "#8250df"
        case .backendCrash: return "#cf222e"
        case .fleetCollapse: return "#82071e"
        case .rebound: return "#0a7b83"
        case .recovered: return "#1a7f37"
        }
    }

    static func render(_ chart: Chart, series: Report.Series, markers: [TextRenderer.TimelineLine],
                       clock: ScenarioClock, onClock: Bool, end: Double) -> String {
        let t = series.tS
        let plotW = width - left - right, plotH = height - top - bottom
        let xMax = max(end, 1)
        func x(_ s: Double) -> Double { left + s / xMax * plotW }

        let all = chart.lines.flatMap { $0.values.compactMap { $0 } }.filter { $0.isFinite }
        var svg = "<figure id=\"chart-\(chart.id)\"><figcaption>\(HTMLRenderer.escape(chart.title))</figcaption>\n"
        svg += "<svg class=\"chart\" data-chart=\"\(chart.id)\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTMLRenderer.escape(chart.title))\" xmlns=\"http://www.w3.org/2000/svg\">\n"

        // Y scale: linear from 0, or logarithmic when values span more than two decades.
        let positive = all.filter { $0 > 0 }
        let useLog = chart.logScale && (positive.max() ?? 0) / max(positive.min() ?? 1, 1e-9) > 100
        var ticks: [Double]
        let yOf: (Double) -> Double
        if useLog {
            let lo = floor(log10(positive.min()!)), hi = ceil(log10(positive.max()!))
            let span = max(hi - lo, 1)
            ticks = stride(from: lo, through: lo + span, by: 1).map { pow(10, $0) }
            yOf = { v in top + plotH - (log10(max(v, pow(10, lo))) - lo) / span * plotH }
        } else {
            let peak = all.max() ?? 0
            if chart.unit == .fraction {
                ticks = niceTicks(max(1, peak))
            } else if chart.unit == .bytes {
                // Ticks at round numbers of the binary unit the peak is written in.
                let scale = pow(1024, floor(log(max(peak, 1)) / log(1024)))
                ticks = niceTicks(peak / scale).map { $0 * scale }
            } else {
                ticks = niceTicks(peak)
            }
            let top_ = ticks.last ?? 1
            yOf = { v in top + plotH - v / top_ * plotH }
        }
        for v in ticks {
            let y = yOf(v)
            svg += "<line class=\"grid-line\" x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(y))\" y2=\"\(f(y))\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(HTMLRenderer.escape(label(v, chart.unit)))</text>\n"
        }
        // X axis: nice time steps, labelled on the scenario's clock.
        let step = timeStep(xMax)
        var s = 0.0
        while s <= xMax + 1e-9 {
            svg += "<line class=\"axis\" x1=\"\(f(x(s)))\" x2=\"\(f(x(s)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 4))\"/>"
            svg += "<text x=\"\(f(x(s)))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(HTMLRenderer.escape(onClock ? clock.label(s) : offset(s)))</text>\n"
            s += step
        }
        svg += "<line class=\"axis\" x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH))\"/>\n"

        // Markers under the data: a band for a folded run of one kind, a line otherwise. Badges
        // that would overlap move up a row.
        var rowEnds = Array(repeating: -Double.infinity, count: badgeRows)
        for (i, m) in markers.enumerated() {
            let c = color(m.kind)
            let x0 = x(m.start), x1 = x(m.end)
            let what = m.count > 1 ? "\(TextRenderer.label(m.kind)) ×\(m.count), \(clock.label(m.start))–\(clock.label(m.end)); first: \(m.detail)"
                : "\(clock.label(m.start)) \(TextRenderer.label(m.kind)): \(m.detail)"
            svg += "<g class=\"marker\" data-kind=\"\(m.kind.rawValue)\"><title>\(i + 1). \(HTMLRenderer.escape(what))</title>"
            if m.count > 1 {
                // A span: a bar along the top of the plot (one lane per kind) and a faint shade.
                let lane = Double(Report.Milestone.Kind.allCases.firstIndex(of: m.kind) ?? 0)
                let w = max(x1 - x0, 2)
                svg += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(w))\" height=\"\(f(plotH))\" fill=\"\(c)\" fill-opacity=\"0.05\"/>"
                svg += "<rect x=\"\(f(x0))\" y=\"\(f(top + 1 + lane * 4))\" width=\"\(f(w))\" height=\"3\" fill=\"\(c)\"/>"
            } else {
                svg += "<line x1=\"\(f(x0))\" x2=\"\(f(x0))\" y1=\"\(f(top))\" y2=\"\(f(top + plotH))\" stroke=\"\(c)\" stroke-width=\"1\" stroke-dasharray=\"3 3\"/>"
            }
            let row = rowEnds.firstIndex { $0 + 17 <= x0 } ?? rowEnds.indices.min { rowEnds[$0] < rowEnds[$1] }!
            rowEnds[row] = x0
            let cy = top - 10 - Double(row) * 17
            svg += "<circle cx=\"\(f(x0))\" cy=\"\(f(cy))\" r=\"8\" fill=\"\(c)\" stroke=\"#fff\" stroke-width=\"1\"/>"
            svg += "<text class=\"marker-label\" x=\"\(f(x0))\" y=\"\(f(cy + 3.5))\" text-anchor=\"middle\">\(i + 1)</text></g>\n"
        }

        if all.isEmpty {
            svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\">no data</text>\n"
        }
        for line in chart.lines {
            let d = path(line.values, t: t, x: x, y: yOf)
            guard !d.isEmpty else { continue }
            svg += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.6\" stroke-linejoin=\"round\"\(line.dashed ? " stroke-dasharray=\"5 3\"" : "")><title>\(HTMLRenderer.escape(line.name))</title></path>\n"
        }
        svg += "</svg>\n<div class=\"legend\">"
        for line in chart.lines {
            svg += "<span class=\"\(line.dashed ? "dashed" : "")\" style=\"--c:\(line.color)\">\(HTMLRenderer.escape(line.name))</span>"
        }
        return svg + "</div></figure>\n"
    }

    /// An SVG path through the points; a missing value breaks the line. Long series are reduced
    /// to each bucket's minimum and maximum, so spikes stay visible.
    static func path(_ values: [Double?], t: [Double], x: (Double) -> Double, y: (Double) -> Double) -> String {
        let n = min(values.count, t.count)
        guard n > 0 else { return "" }
        var points: [(Double, Double)?] = []
        if n <= maxPoints {
            points = (0..<n).map { i in values[i].flatMap { $0.isFinite ? (t[i], $0) : nil } }
        } else {
            let buckets = maxPoints / 2
            for b in 0..<buckets {
                let lo = b * n / buckets, hi = max(lo + 1, (b + 1) * n / buckets)
                let inBucket = (lo..<hi).compactMap { i in values[i].flatMap { $0.isFinite ? (t[i], $0) : nil } }
                guard let mn = inBucket.min(by: { $0.1 < $1.1 }), let mx = inBucket.max(by: { $0.1 < $1.1 }) else {
                    points.append(nil); continue
                }
                points += mn.0 <= mx.0 ? [mn, mx] : [mx, mn]
            }
        }
        var d = ""
        var pen = false
        for p in points {
            guard let (pt, pv) = p else { pen = false; continue }
            d += (pen ? "L" : "M") + f(x(pt)) + " " + f(y(pv))
            pen = true
        }
        return d
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Short axis labels: `+15m`, `+1h30`, `+45s`.
    static func offset(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let h = total / 3600, m = (total % 3600) / 60, sec = total % 60
        if total == 0 { return "0" }
        if h > 0 { return m == 0 ? "+\(h)h" : String(format: "+%dh%02d", h, m) }
        if m > 0 { return sec == 0 ? "+\(m)m" : String(format: "+%dm%02d", m, sec) }
        return "+\(sec)s"
    }

    /// 0, step, 2·step, … up to the first tick at or above `maxValue`, with step 1, 2, 2.5 or 5 × 10^k.
    static func niceTicks(_ maxValue: Double) -> [Double] {
        guard maxValue > 0 else { return [0, 1] }
        let v = maxValue
        let raw = v / 4
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var ticks: [Double] = []
        var t = 0.0
        while t < v - 1e-12 * v { ticks.append(t); t += step }
        ticks.append(t)
        return ticks
    }

    static func timeStep(_ span: Double) -> Double {
        let steps: [Double] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
        return steps.first { span / $0 <= 8 } ?? span / 8
    }

    static func label(_ v: Double, _ unit: Unit) -> String {
        switch unit {
        case .count:
            if v >= 1e6 { return trim(v / 1e6) + "M" }
            if v >= 1e4 { return trim(v / 1e3) + "k" }
            return trim(v)
        case .fraction: return String(format: "%.0f%%", v * 100)
        case .milliseconds: return v >= 1000 ? trim(v / 1000) + " s" : trim(v) + " ms"
        case .seconds: return v >= 120 ? ScenarioClock.duration(v) : trim(v) + " s"
        case .bytes: return v == 0 ? "0" : TextRenderer.bytes(Int64(v))
        }
    }

    static func trim(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%.1f", v)
    }
}
