import Foundation

/// The rollout report for people and for CI: the terminal answer, Markdown (a job summary),
/// JUnit XML (the gate as test cases) and a self-contained HTML page with the sweep charts.
public enum RolloutRenderer {
    // MARK: Words

    public static func percent(_ share: Double) -> String {
        let p = (share * 100 * 1e6).rounded() / 1e6
        if p == p.rounded() { return String(format: "%.0f%%", p) }
        if (p * 10) == (p * 10).rounded() { return String(format: "%.1f%%", p) }
        return String(format: "%.2f%%", p)
    }

    static func devices(_ share: Double, _ report: RolloutReport) -> Int {
        Int((share * Double(report.fleetSize)).rounded())
    }

    static func boundaryLine(_ b: RolloutReport.Boundary, _ r: RolloutReport) -> String {
        var s = "\(percent(b.median)) (\(devices(b.median, r)) devices)"
        if r.seeds.count > 1 {
            s += b.min == b.max ? ", the same in all \(r.seeds.count) seeds"
                : ", \(percent(b.min))–\(percent(b.max)) across \(r.seeds.count) seeds"
        }
        return s + " ±\(percent(r.precision / 2))"
    }

    static func cause(_ c: RolloutReport.Cause?) -> String {
        guard let c else { return "nothing saturated first (no unhealthy share, or it never reached a limit)" }
        return "\(c.resource) (first in \(c.seeds) of \(c.ofSeeds) seeds; \(c.detail))"
    }

    static func healthLine(_ r: RolloutReport) -> String {
        let h = r.health
        return "online ≥ \(percent(h.onlineFraction)) through a quiet \(ScenarioClock.duration(h.windowS)); "
            + "after every gateway restarts at \(ScenarioClock.duration(h.perturbationAtS)) (down \(ScenarioClock.duration(h.perturbationDownS))): "
            + "back to \(percent(h.onlineFraction)) within \(ScenarioClock.duration(h.recoverWithinS)), holding \(ScenarioClock.duration(h.holdS))"
    }

    /// The gate's sentence: safe or not, and by how much.
    public static func verdict(_ r: RolloutReport) -> String? {
        guard let safe = r.safe, let share = r.safeShare else { return nil }
        let needed = r.planned * r.margin
        let m = r.margin == r.margin.rounded() ? String(Int(r.margin)) : String(format: "%.2g", r.margin)
        let head = "planned \(percent(r.planned)) × margin \(m) = \(percent(min(1, needed))) needed; safe share \(percent(share))"
        if safe {
            let factor = r.planned > 0 ? String(format: "%.1f×", share / r.planned) : "∞"
            return "SAFE: \(head) (the safe share is \(factor) the plan)"
        }
        let largest = share / r.margin
        return "NOT SAFE: \(head); the largest plan this margin allows is \(percent(largest)) (\(devices(largest, r)) devices)"
    }

    // MARK: Terminal

    public static func terminal(_ r: RolloutReport) -> String {
        var out = "\(r.scenario): rollout of \(r.candidate)\n"
        out += "  onto a fleet of \(r.fleetSize) devices from \(r.baseline.joined(separator: ", "))\n"
        out += "  healthy: \(healthLine(r))\n"
        out += "  seeds \(r.seeds.map(String.init).joined(separator: ", ")); \(r.simulations) simulations in \(String(format: "%.1f", r.wallS)) s\n\n"
        if let s = r.stability, let rec = r.recovery {
            out += "  Stability boundary   \(boundaryLine(s, r))\n"
            out += "  Recovery boundary    \(boundaryLine(rec, r))\n"
            if s.median > rec.median {
                out += "  Metastable band      \(percent(rec.median)) – \(percent(s.median)) (\(devices(rec.median, r))–\(devices(s.median, r)) devices): "
                out += "healthy on a quiet day, does not come back after a restart\n"
            } else {
                out += "  Metastable band      none: wherever the fleet is stable it also recovers\n"
            }
            out += "  First to saturate    above the stability boundary: \(cause(r.stabilityCause))\n"
            out += "                       above the recovery boundary: \(cause(r.recoveryCause))\n"
            if let v = verdict(r) { out += "\n  \(v)\n" }
        }
        if let sweep = r.sweep { out += "\n" + sweepTable(sweep, r, markdown: false) }
        if let v = r.verification { out += "\n" + verificationTable(v, markdown: false) + "\n  " + verificationVerdict(v) + "\n" }
        return out
    }

    /// The live verification in one sentence.
    public static func verificationVerdict(_ v: RolloutVerificationReport) -> String {
        let run = v.points.filter { $0.incomplete == nil }
        if run.count < v.points.count {
            return "Live verification incomplete: \(v.points.count - run.count) of \(v.points.count) live runs did not finish (see their reports)."
        }
        if v.agrees {
            return "The live backend agrees with the model on both sides of the recovery boundary (\(percent(v.boundary)), \(percent(v.boundaryLow))–\(percent(v.boundaryHigh)) across seeds; step \(percent(v.step)))."
        }
        let bad = v.points.filter { !$0.agrees }.map { "\(percent($0.share)) (\($0.role))" }.joined(separator: ", ")
        return "The model and the live backend DISAGREE at \(bad): the model's boundary cannot be trusted for this backend; calibrate it (fleetsim calibrate) and check again."
    }

    static func verificationColumns() -> [String] {
        ["share", "devices", "why", "predicted stable", "predicted recovered", "live stable", "live recovered", "agree"]
    }

    static func verificationCells(_ p: RolloutVerificationReport.Point) -> [String] {
        func yn(_ b: Bool) -> String { b ? "yes" : "no" }
        func rec(_ b: Bool, _ t: Double?) -> String {
            (b ? "yes" : "no") + (t.map { " (\(ScenarioClock.duration($0)))" } ?? "")
        }
        return [percent(p.share), "\(p.candidateDevices)", p.role, yn(p.predictedStable), rec(p.predictedRecovered, p.predictedRecoveryS),
                yn(p.liveStable), rec(p.liveRecovered, p.liveRecoveryS),
                p.incomplete != nil ? "incomplete" : (p.agrees ? "yes" : "NO")]
    }

    static func verificationTable(_ v: RolloutVerificationReport, markdown: Bool) -> String {
        let header = verificationColumns()
        let rows = v.points.map(verificationCells)
        var out = markdown ? "" : "  Live verification against \(v.target) at ×\(TimeSeriesChart.trim(v.timeScale)) (\(String(format: "%.0f", v.wallS)) s of wall time)\n"
        if markdown {
            out += "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in "---" }.joined(separator: "|") + "|\n"
            for r in rows { out += "| " + r.joined(separator: " | ") + " |\n" }
            return out
        }
        let widths = header.indices.map { i in max(header[i].count, rows.map { $0[i].count }.max() ?? 0) }
        func line(_ cells: [String]) -> String {
            "  " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        out += line(header) + "\n"
        for r in rows { out += line(r) + "\n" }
        return out
    }

    static func sweepColumns(_ sweep: RolloutReport.Sweep) -> [String] {
        var cols: [String] = []
        if let field = sweep.field { cols.append(field) }
        if sweep.rows.contains(where: { $0.share != nil }) {
            cols += ["share", "devices", "stable", "recovered", "recovery", "peak DB", "mean DB", "first saturated"]
        } else {
            cols += ["stability boundary", "recovery boundary"]
        }
        return cols
    }

    static func sweepCells(_ row: RolloutReport.Sweep.Row, _ sweep: RolloutReport.Sweep) -> [String] {
        var cells: [String] = []
        if sweep.field != nil { cells.append(row.value ?? "") }
        if let share = row.share {
            cells.append(percent(share))
            cells.append(row.candidateDevices.map(String.init) ?? "")
            cells.append("\(row.stable ?? 0)/\(row.seeds)")
            cells.append("\(row.recovered ?? 0)/\(row.seeds)")
            cells.append(row.recoveryS.map { ScenarioClock.duration($0) } ?? "—")
            cells.append(row.dbUtilizationMax.map { percent(($0 * 100).rounded() / 100) } ?? "—")
            cells.append(row.dbUtilizationMean.map { percent(($0 * 100).rounded() / 100) } ?? "—")
            cells.append(row.saturated ?? "—")
        } else {
            cells.append(row.stabilityBoundary.map(percent) ?? "—")
            cells.append(row.recoveryBoundary.map(percent) ?? "—")
        }
        return cells
    }

    static func sweepTable(_ sweep: RolloutReport.Sweep, _ r: RolloutReport, markdown: Bool) -> String {
        let header = sweepColumns(sweep)
        let rows = sweep.rows.map { sweepCells($0, sweep) }
        if markdown {
            var out = "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in "---" }.joined(separator: "|") + "|\n"
            for row in rows { out += "| " + row.joined(separator: " | ") + " |\n" }
            return out
        }
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            "  " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ") + "\n"
        }
        return line(header) + rows.map(line).joined()
    }

    // MARK: Markdown

    public static func markdown(_ r: RolloutReport) -> String {
        var out = "# Rollout check: \(r.scenario)\n\n"
        out += "Candidate **\(r.candidate)** on a fleet of \(r.fleetSize) devices (baseline: \(r.baseline.joined(separator: ", "))).\n\n"
        out += "Healthy: \(healthLine(r)). Seeds \(r.seeds.map(String.init).joined(separator: ", ")); \(r.simulations) simulations in \(String(format: "%.1f", r.wallS)) s.\n\n"
        if let s = r.stability, let rec = r.recovery {
            if let v = verdict(r) { out += "**\(v)**\n\n" }
            out += "| | share |\n|---|---|\n"
            out += "| Stability boundary | \(boundaryLine(s, r)) |\n"
            out += "| Recovery boundary (safe share: worst seed) | \(boundaryLine(rec, r)) |\n"
            out += "| Metastable band | \(s.median > rec.median ? "\(percent(rec.median)) – \(percent(s.median))" : "none") |\n"
            out += "| First to saturate (stability) | \(cause(r.stabilityCause)) |\n"
            out += "| First to saturate (recovery) | \(cause(r.recoveryCause)) |\n\n"
            out += "| seed | stability | recovery |\n|---|---|---|\n"
            for (i, seed) in r.seeds.enumerated() {
                out += "| \(seed) | \(percent(s.perSeed[i])) | \(percent(rec.perSeed[i])) |\n"
            }
            out += "\n"
        }
        if let sweep = r.sweep { out += "## Sweep\n\n" + sweepTable(sweep, r, markdown: true) + "\n" }
        if let v = r.verification {
            out += "## Live verification\n\nAgainst \(v.target) at ×\(TimeSeriesChart.trim(v.timeScale)); each live run has its own report (`\(v.points.first?.report ?? "")`…).\n\n"
            out += verificationTable(v, markdown: true) + "\n" + verificationVerdict(v) + "\n"
        }
        return out
    }

    /// A CI job summary: the verdict line first.
    public static func ciSummary(_ r: RolloutReport) -> String {
        let icon = r.safe == nil ? "" : (r.safe! ? "✅ " : "❌ ")
        return "\(icon)**FleetSim rollout check: \(r.scenario)** — \(verdict(r) ?? "sweep only")\n\n" + markdown(r) + "\n"
    }

    // MARK: JUnit

    /// Test cases: the planned share against the stability boundary and against the safe share
    /// with the margin (the gate).
    public static func junit(_ r: RolloutReport) -> String {
        var cases: [(name: String, failure: String?, out: String)] = []
        if let s = r.stability, let safe = r.safeShare {
            cases.append(("planned share is below the stability boundary",
                          r.planned <= s.min ? nil : "planned \(percent(r.planned)) is above the stability boundary \(percent(s.min)) (worst seed)",
                          "stability boundary \(boundaryLine(s, r))"))
            cases.append(("planned share × margin is below the recovery boundary",
                          r.safe == true ? nil : verdict(r),
                          "safe share \(percent(safe)); \(verdict(r) ?? "")"))
        }
        let failures = cases.filter { $0.failure != nil }.count
        let suite = "fleetsim.rollout.\(r.scenario)"
        let time = String(format: "%.3f", r.wallS)
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"fleetsim\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" time=\"\(time)\">\n"
        out += "  <testsuite name=\"\(JUnitRenderer.escape(suite))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" time=\"\(time)\">\n"
        out += "    <properties>\n"
        for (k, v) in [("fleet_size", "\(r.fleetSize)"), ("candidate", r.candidate), ("planned", percent(r.planned)),
                       ("seeds", r.seeds.map(String.init).joined(separator: ","))] {
            out += "      <property name=\"\(k)\" value=\"\(JUnitRenderer.escape(v))\"/>\n"
        }
        out += "    </properties>\n"
        for c in cases {
            out += "    <testcase classname=\"\(JUnitRenderer.escape(suite))\" name=\"\(JUnitRenderer.escape(c.name))\" time=\"0\">\n"
            if let f = c.failure {
                out += "      <failure message=\"\(JUnitRenderer.escape(f))\" type=\"rollout\">\(JUnitRenderer.escape(f))</failure>\n"
            } else {
                out += "      <system-out>\(JUnitRenderer.escape(c.out))</system-out>\n"
            }
            out += "    </testcase>\n"
        }
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }

    // MARK: HTML

    public static func html(_ r: RolloutReport) -> String {
        let e = HTMLRenderer.escape
        var body = "<header><h1>Rollout check · \(e(r.scenario))</h1>"
        body += "<p class=\"meta\">\(e("candidate \(r.candidate) · fleet of \(r.fleetSize) devices · seeds \(r.seeds.map(String.init).joined(separator: ", ")) · \(r.simulations) simulations in \(String(format: "%.1f", r.wallS)) s"))</p>"
        if let v = verdict(r) { body += "<p class=\"verdict \(r.safe == true ? "pass" : "fail")\">\(e(v))</p>" }
        body += "<p class=\"note\">Healthy: \(e(healthLine(r)))</p></header>\n"
        if let s = r.stability, let rec = r.recovery {
            body += "<section><h2>Boundaries</h2><table class=\"kv\">"
            body += "<tr><th>Stability boundary</th><td>\(e(boundaryLine(s, r)))</td></tr>"
            body += "<tr><th>Recovery boundary (the gate uses the worst seed)</th><td>\(e(boundaryLine(rec, r)))</td></tr>"
            body += "<tr><th>Metastable band</th><td>\(e(s.median > rec.median ? "\(percent(rec.median)) – \(percent(s.median)): healthy on a quiet day, does not come back after a restart" : "none"))</td></tr>"
            body += "<tr><th>First to saturate above the stability boundary</th><td>\(e(cause(r.stabilityCause)))</td></tr>"
            body += "<tr><th>First to saturate above the recovery boundary</th><td>\(e(cause(r.recoveryCause)))</td></tr>"
            body += "</table>\n<table><thead><tr><th>seed</th><th>stability</th><th>recovery</th></tr></thead><tbody>"
            for (i, seed) in r.seeds.enumerated() {
                body += "<tr><td>\(seed)</td><td class=\"num\">\(percent(s.perSeed[i]))</td><td class=\"num\">\(percent(rec.perSeed[i]))</td></tr>"
            }
            body += "</tbody></table></section>\n"
            body += "<section><h2>Simulations</h2><table><thead><tr><th>boundary</th><th>seed</th><th>share</th><th>devices</th><th>healthy</th><th>why not</th><th>first saturated</th><th>simulated</th></tr></thead><tbody>"
            for (kind, b) in [("stability", s), ("recovery", rec)] {
                for probes in b.probes {
                    for p in probes {
                        body += "<tr><td>\(kind)</td><td>\(p.seed)</td><td class=\"num\">\(percent(p.share))</td><td class=\"num\">\(p.candidateDevices)</td>"
                        body += "<td><span class=\"badge \(p.healthy ? "pass" : "fail")\">\(p.healthy ? "yes" : "no")</span></td>"
                        body += "<td>\(e(p.reason ?? ""))</td><td>\(e(p.saturated.map { "\($0.resource) at \(ScenarioClock.duration($0.tS))" } ?? ""))</td>"
                        body += "<td class=\"num\">\(e(ScenarioClock.duration(p.simulatedS)))</td></tr>"
                    }
                }
            }
            body += "</tbody></table></section>\n"
        }
        if let sweep = r.sweep {
            body += "<section><h2>Sweep</h2><table><thead><tr>" + sweepColumns(sweep).map { "<th>\(e($0))</th>" }.joined() + "</tr></thead><tbody>"
            for row in sweep.rows {
                body += "<tr>" + sweepCells(row, sweep).map { "<td>\(e($0))</td>" }.joined() + "</tr>"
            }
            body += "</tbody></table>\n<div class=\"grid\">\n"
            for chart in charts(sweep, r) { body += chart.svg() }
            body += "</div></section>\n"
        }
        if let v = r.verification {
            body += "<section><h2>Live verification</h2><p class=\"verdict \(v.agrees ? "pass" : "fail")\">\(e(verificationVerdict(v)))</p>"
            body += "<p class=\"note\">\(e("Against \(v.target) at ×\(TimeSeriesChart.trim(v.timeScale)), \(String(format: "%.0f", v.wallS)) s of wall time; each live run's report is in its own folder."))</p>"
            body += "<table><thead><tr>" + verificationColumns().map { "<th>\(e($0))</th>" }.joined() + "</tr></thead><tbody>"
            for p in v.points { body += "<tr>" + verificationCells(p).map { "<td>\(e($0))</td>" }.joined() + "</tr>" }
            body += "</tbody></table>\n<div class=\"grid\">\n"
            for chart in verificationCharts(v, r) { body += chart.svg() }
            body += "</div></section>\n"
        }
        body += "<footer>FleetSim · \(e(RolloutReport.schemaName)) · the data behind this page is in rollout.json</footer>\n"
        return HTMLRenderer.page(title: "FleetSim rollout check · \(r.scenario)", body: body)
    }

    /// The live points on the model's curve (its sweep around the boundary, when there is one),
    /// and recovery time against the distance to the recovery boundary: recovery takes longer
    /// and longer as the share nears the tipping point. A cross on the top edge: did not come back.
    public static func verificationCharts(_ v: RolloutVerificationReport, _ r: RolloutReport) -> [XYChart] {
        let sweepRows = (r.sweep?.rows ?? []).filter { $0.share != nil && $0.value == nil }
        var model = sweepRows.map { (x: $0.share!, y: $0.recoveryS) }
        for p in v.points where !model.contains(where: { abs($0.x - p.share) < 1e-9 }) { model.append((p.share, p.predictedRecoveryS)) }
        model.sort { $0.x < $1.x }
        let live = v.points.filter { $0.incomplete == nil }.map { (x: $0.share, y: $0.liveRecovered || $0.liveRecoveryS != nil ? $0.liveRecoveryS : nil) }
        let boundary = (x: v.boundary, label: "model's recovery boundary \(percent(v.boundary))")
        return [
            XYChart(title: "Recovery time after the standard perturbation: the model (line) and live runs (squares; ×: did not come back)",
                    xLabel: "share on the candidate", xAxis: .fraction, yAxis: .seconds,
                    lines: [XYChart.Line(name: "model (median over seeds)", points: model),
                            XYChart.Line(name: "live", points: live, dotsOnly: true)], marker: boundary),
            XYChart(title: "Recovery time against the distance to the recovery boundary",
                    xLabel: "share − boundary", xAxis: .fraction, yAxis: .seconds,
                    lines: [XYChart.Line(name: "model", points: model.map { ($0.x - v.boundary, $0.y) }),
                            XYChart.Line(name: "live", points: live.map { ($0.x - v.boundary, $0.y) }, dotsOnly: true)],
                    marker: (x: 0, label: "boundary")),
        ]
    }

    /// Share sweeps: share vs recovery time and share vs peak DB utilisation (one line per field
    /// value). A field sweep alone: the field's value vs the two boundaries.
    public static func charts(_ sweep: RolloutReport.Sweep, _ r: RolloutReport) -> [XYChart] {
        let planned = (x: r.planned, label: "planned \(percent(r.planned))")
        if sweep.rows.contains(where: { $0.share != nil }) {
            var values: [String?] = []
            for row in sweep.rows where !values.contains(where: { $0 == row.value }) { values.append(row.value) }
            func lines(_ y: (RolloutReport.Sweep.Row) -> Double?) -> [XYChart.Line] {
                values.map { v in
                    XYChart.Line(name: v.map { "\(sweep.field ?? "")=\($0)" } ?? "",
                                 points: sweep.rows.filter { $0.value == v }.map { ($0.share ?? 0, y($0)) })
                }
            }
            return [
                XYChart(title: "Recovery time after the standard perturbation (gaps: did not come back)", xLabel: "share on the candidate",
                        xAxis: .fraction, yAxis: .seconds, lines: lines(\.recoveryS), marker: planned),
                XYChart(title: "Peak database utilisation", xLabel: "share on the candidate", xAxis: .fraction, yAxis: .fraction,
                        lines: lines(\.dbUtilizationMax), marker: planned),
                XYChart(title: "Mean database utilisation", xLabel: "share on the candidate", xAxis: .fraction, yAxis: .fraction,
                        lines: lines(\.dbUtilizationMean), marker: planned),
            ]
        }
        let numeric = sweep.rows.compactMap { $0.value.flatMap(Double.init) }
        let xs: [Double] = numeric.count == sweep.rows.count ? numeric : sweep.rows.indices.map(Double.init)
        return [XYChart(title: "Boundaries by \(sweep.field ?? "value")", xLabel: sweep.field ?? "value", xAxis: .number, yAxis: .fraction,
                        lines: [XYChart.Line(name: "stability boundary", points: zip(xs, sweep.rows).map { ($0, $1.stabilityBoundary) }),
                                XYChart.Line(name: "recovery boundary", points: zip(xs, sweep.rows).map { ($0, $1.recoveryBoundary) })])]
    }
}
