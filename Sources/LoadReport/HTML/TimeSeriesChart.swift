import Foundation

/// One SVG line chart over scenario time.
struct TimeSeriesChart {
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

    static func render(_ chart: TimeSeriesChart, series: Report.Series, markers: [TextRenderer.TimelineLine],
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
        case .bytes: return v == 0 ? "0" : ReportFormat.bytes(Int64(v))
        }
    }

    static func trim(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%.1f", v)
    }
}
