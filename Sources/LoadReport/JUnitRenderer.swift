import Foundation

/// JUnit XML for CI systems (GitHub Actions reporters, GitLab, Jenkins): one test case per
/// threshold, the measured value in the failure message. An incomplete run adds a test case in
/// error, so a gate never shows green for a run that did not finish.
public enum JUnitRenderer {
    public static func render(_ report: Report) -> String {
        let evaluated = report.thresholds
        let failures = evaluated.filter { $0.ok == false }.count
        let skipped = evaluated.filter { $0.ok == nil }.count
        let errors = report.incomplete == nil ? 0 : 1
        let tests = evaluated.count + errors
        let time = report.summary.wallS.map { String(format: "%.3f", $0) } ?? "0"
        let suite = "fleetsim.\(report.scenario)"
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"fleetsim\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(time)\">\n"
        out += "  <testsuite name=\"\(escape(suite))\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(time)\">\n"
        out += "    <properties>\n"
        for (k, v) in [("mode", report.mode), ("seed", "\(report.seed)"), ("devices", "\(report.summary.devices)"),
                       ("duration_s", TextRenderer.format(report.summary.durationS))] {
            out += "      <property name=\"\(k)\" value=\"\(escape(v))\"/>\n"
        }
        out += "    </properties>\n"
        if let incomplete = report.incomplete {
            out += "    <testcase classname=\"\(escape(suite))\" name=\"run completes\" time=\"\(time)\">\n"
            out += "      <error message=\"\(escape("the run did not complete: \(incomplete)"))\" type=\"incomplete\"/>\n"
            out += "    </testcase>\n"
        }
        for t in evaluated {
            out += "    <testcase classname=\"\(escape("\(suite).\(t.metric)"))\" name=\"\(escape("\(t.metric): \(t.expression)"))\" time=\"0\">\n"
            switch t.ok {
            case true?:
                out += "      <system-out>\(escape("measured \(measured(t))"))</system-out>\n"
            case false?:
                let message = "\(t.metric) \(t.expression) failed: measured \(measured(t))"
                out += "      <failure message=\"\(escape(message))\" type=\"threshold\">\(escape(message))</failure>\n"
            case nil:
                out += "      <skipped message=\"not evaluated\"/>\n"
            }
            out += "    </testcase>\n"
        }
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }

    static func measured(_ t: Report.ThresholdResult) -> String {
        guard let v = t.value else { return "nothing (no data)" }
        if v.isInfinite { return v > 0 ? "∞" : "-∞" }
        return TextRenderer.format(v)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            default:
                // XML 1.0 forbids most control characters, even escaped.
                if c.value < 0x20 && c != "\t" && c != "\r" { continue }
                out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
