import Foundation

/// A small SVG line chart over a numeric x axis (a share, a field's value), for the rollout
/// report's sweeps. The report's charts (`TimeSeriesChart`) share a time axis and milestone markers;
/// this one shares only their look (the `svg.chart` styles).
public struct XYChart: Sendable {
    public struct Line: Sendable {
        public var name: String
        /// (x, y) points; a nil y leaves a gap.
        public var points: [(x: Double, y: Double?)]
        /// Points only, no line through them (measured runs beside a model's curve); a nil y is
        /// drawn as a cross on the top edge ("did not come back") instead of a gap.
        public var dotsOnly: Bool
        public init(name: String, points: [(x: Double, y: Double?)], dotsOnly: Bool = false) {
            self.name = name
            self.points = points
            self.dotsOnly = dotsOnly
        }
    }

    public enum Axis: Sendable { case fraction, seconds, number }

    public var title: String
    public var xLabel: String
    public var xAxis: Axis
    public var yAxis: Axis
    public var lines: [Line]
    /// A vertical reference line (e.g. the planned share), with its label.
    public var marker: (x: Double, label: String)?

    public init(title: String, xLabel: String, xAxis: Axis, yAxis: Axis, lines: [Line], marker: (x: Double, label: String)? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.xAxis = xAxis
        self.yAxis = yAxis
        self.lines = lines
        self.marker = marker
    }

    static let colors = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bc4c00"]
    static let width = 560.0, height = 280.0, left = 64.0, right = 16.0, top = 16.0, bottom = 44.0

    public func svg() -> String {
        let xs = lines.flatMap { $0.points.map(\.x) } + (marker.map { [$0.x] } ?? [])
        let ys = lines.flatMap { $0.points.compactMap(\.y) }
        let xMin = xs.min() ?? 0, xMaxRaw = xs.max() ?? 1
        let xMax = xMaxRaw > xMin ? xMaxRaw : xMin + 1
        let yTicks = TimeSeriesChart.niceTicks(max(ys.max() ?? 1, yAxis == .fraction ? 0.01 : 1e-9))
        let yMax = yTicks.last ?? 1
        let plotW = XYChart.width - XYChart.left - XYChart.right, plotH = XYChart.height - XYChart.top - XYChart.bottom
        func x(_ v: Double) -> Double { XYChart.left + (v - xMin) / (xMax - xMin) * plotW }
        func y(_ v: Double) -> Double { XYChart.top + plotH - v / yMax * plotH }
        var out = "<figure><figcaption>\(HTMLRenderer.escape(title))</figcaption>\n"
        out += "<svg class=\"chart\" viewBox=\"0 0 \(Int(XYChart.width)) \(Int(XYChart.height))\" role=\"img\" aria-label=\"\(HTMLRenderer.escape(title))\">\n"
        for t in yTicks {
            out += "<line class=\"grid-line\" x1=\"\(f(XYChart.left))\" x2=\"\(f(XYChart.left + plotW))\" y1=\"\(f(y(t)))\" y2=\"\(f(y(t)))\"/>"
            out += "<text x=\"\(f(XYChart.left - 6))\" y=\"\(f(y(t) + 4))\" text-anchor=\"end\">\(HTMLRenderer.escape(label(t, yAxis)))</text>\n"
        }
        for t in xTicks(xMin, xMax) {
            out += "<line class=\"axis\" x1=\"\(f(x(t)))\" x2=\"\(f(x(t)))\" y1=\"\(f(XYChart.top + plotH))\" y2=\"\(f(XYChart.top + plotH + 4))\"/>"
            out += "<text x=\"\(f(x(t)))\" y=\"\(f(XYChart.top + plotH + 16))\" text-anchor=\"middle\">\(HTMLRenderer.escape(label(t, xAxis)))</text>\n"
        }
        out += "<line class=\"axis\" x1=\"\(f(XYChart.left))\" x2=\"\(f(XYChart.left + plotW))\" y1=\"\(f(XYChart.top + plotH))\" y2=\"\(f(XYChart.top + plotH))\"/>\n"
        out += "<text x=\"\(f(XYChart.left + plotW / 2))\" y=\"\(f(XYChart.height - 6))\" text-anchor=\"middle\">\(HTMLRenderer.escape(xLabel))</text>\n"
        if let m = marker {
            out += "<line x1=\"\(f(x(m.x)))\" x2=\"\(f(x(m.x)))\" y1=\"\(f(XYChart.top))\" y2=\"\(f(XYChart.top + plotH))\" stroke=\"#9a6700\" stroke-dasharray=\"4 3\"/>"
            out += "<text x=\"\(f(x(m.x) + 4))\" y=\"\(f(XYChart.top + 10))\">\(HTMLRenderer.escape(m.label))</text>\n"
        }
        for (i, line) in lines.enumerated() {
            let color = XYChart.colors[i % XYChart.colors.count]
            var d = "", pen = false
            for p in line.points.sorted(by: { $0.x < $1.x }) {
                if line.dotsOnly {
                    if let v = p.y {
                        out += "<rect x=\"\(f(x(p.x) - 4))\" y=\"\(f(y(v) - 4))\" width=\"8\" height=\"8\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>"
                    } else {
                        let cx = x(p.x), cy = XYChart.top + 6
                        out += "<path d=\"M\(f(cx - 5)),\(f(cy - 5)) L\(f(cx + 5)),\(f(cy + 5)) M\(f(cx - 5)),\(f(cy + 5)) L\(f(cx + 5)),\(f(cy - 5))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
                    }
                    continue
                }
                guard let v = p.y else { pen = false; continue }
                d += "\(pen ? "L" : "M")\(f(x(p.x))),\(f(y(v))) "
                pen = true
                out += "<circle cx=\"\(f(x(p.x)))\" cy=\"\(f(y(v)))\" r=\"2.5\" fill=\"\(color)\"/>"
            }
            if !d.isEmpty { out += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"/>\n" }
        }
        out += "</svg>\n"
        if lines.count > 1 || lines.first?.name.isEmpty == false {
            out += "<div class=\"legend\">" + lines.enumerated().map {
                "<span style=\"--c:\(XYChart.colors[$0.offset % XYChart.colors.count])\">\(HTMLRenderer.escape($0.element.name))</span>"
            }.joined() + "</div>\n"
        }
        return out + "</figure>\n"
    }

    func xTicks(_ lo: Double, _ hi: Double) -> [Double] {
        let ticks = TimeSeriesChart.niceTicks(hi - lo).map { lo + $0 }
        return ticks.filter { $0 <= hi + 1e-9 }
    }

    func label(_ v: Double, _ axis: Axis) -> String {
        switch axis {
        case .fraction: return v * 100 == (v * 100).rounded() ? String(format: "%.0f%%", v * 100) : String(format: "%.1f%%", v * 100)
        case .seconds: return v >= 120 ? ScenarioClock.duration(v) : TimeSeriesChart.trim(v) + " s"
        case .number: return TimeSeriesChart.label(v, .count)
        }
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
