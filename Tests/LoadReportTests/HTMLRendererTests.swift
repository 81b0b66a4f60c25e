import Foundation
import Testing
@testable import LoadReport

@Suite struct HTMLRendererTests {
    static func sample() throws -> Report {
        var r = ReportFixture.report(scenario: "rollout <3.8> & \"friends\"", crashes: 2,
                                     thresholds: [("online_fraction", "min > 0.95"), ("handshake_ms", "p99 < 5000")],
                                     milestones: [
                                        Report.Milestone(tS: 60, kind: .timeline, detail: "200 devices join"),
                                        Report.Milestone(tS: 100, kind: .backendCrash, detail: "gateway 0 out of memory"),
                                        Report.Milestone(tS: 110, kind: .backendCrash, detail: "gateway 1 out of memory"),
                                        Report.Milestone(tS: 120, kind: .fleetCollapse, detail: "40% online"),
                                        Report.Milestone(tS: 200, kind: .recovered, detail: "100% online"),
                                     ])
        try r.evaluateThresholds()
        return r
    }

    @Test func thePageIsSelfContained() throws {
        let html = HTMLRenderer.render(try Self.sample())
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for external in ["<script", "src=", "href=", "@import", "url(", "@font-face"] {
            #expect(!html.contains(external), "\(external)")
        }
        #expect(html.contains("@media print"))
    }

    @Test func chartsThresholdsAndMarkersAreThere() throws {
        let html = HTMLRenderer.render(try Self.sample())
        for chart in ["online", "connects", "attempts", "latency", "db-utilization", "db-wait", "memory", "pending"] {
            #expect(html.contains("data-chart=\"\(chart)\""), "\(chart)")
        }
        #expect(html.contains("FAIL · 1 of 2 thresholds failed"))
        #expect(html.contains("<code>min &gt; 0.95</code>"))
        // The two crashes fold into one marker: four markers on each of the eight charts.
        #expect(html.components(separatedBy: "<g class=\"marker\"").count - 1 == 4 * 8)
        #expect(html.contains("backend crash ×2"))
        // Text from the report is escaped.
        #expect(html.contains("rollout &lt;3.8&gt; &amp; &quot;friends&quot;") && !html.contains("<3.8>"))
    }

    @Test func missingValuesBreakTheLineAndLongSeriesAreReduced() {
        let d = TimeSeriesChart.path([1, nil, 3, 4], t: [1, 2, 3, 4], x: { $0 }, y: { $0 })
        #expect(d == "M1.0 1.0M3.0 3.0L4.0 4.0")
        let n = 100_000
        let long = TimeSeriesChart.path((0..<n).map { Double($0 % 1000) }, t: (0..<n).map(Double.init), x: { $0 }, y: { $0 })
        #expect(long.filter { $0 == "L" }.count < TimeSeriesChart.maxPoints)
        #expect(TimeSeriesChart.path([], t: [], x: { $0 }, y: { $0 }).isEmpty)
    }

    @Test func anEmptyReportStillRenders() {
        var r = ReportFixture.report(online: [1])
        r.series = Report.Series(intervalS: 60)
        let html = HTMLRenderer.render(r)
        #expect(html.contains("no data") && html.contains("</html>"))
    }
}

/// The page in a real browser: Debian's chromium, headless (installed by .ci/run).
@Suite(.enabled(if: Browser.path != nil, "chromium is not installed (.ci/run installs it)"), .tags(.slow))
struct HTMLInBrowserTests {
    @Test func chromiumRendersTheChartsWithoutErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fleetsim-html-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let page = folder.appendingPathComponent("report.html")
        try Data(HTMLRenderer.render(try HTMLRendererTests.sample()).utf8).write(to: page)

        let shot = folder.appendingPathComponent("shot.png")
        let screenshot = try Browser.run(["--screenshot=\(shot.path)", "--window-size=1366,2400", page.absoluteString], in: folder)
        let size = (try FileManager.default.attributesOfItem(atPath: shot.path)[.size] as? Int) ?? 0
        #expect(size > 50_000, "a screenshot of charts is not a blank page (\(size) bytes)")
        #expect(Browser.pageErrors(screenshot.log).isEmpty, "\(Browser.pageErrors(screenshot.log))")

        let dom = try Browser.run(["--dump-dom", page.absoluteString], in: folder)
        #expect(dom.stdout.components(separatedBy: "<svg class=\"chart\"").count - 1 == 8)
        #expect(dom.stdout.contains("id=\"thresholds\"") && dom.stdout.contains("FAIL"))
        #expect(Browser.pageErrors(dom.log).isEmpty, "\(Browser.pageErrors(dom.log))")
    }

    @Test func theErrorCheckSeesAPageError() throws {
        // The check above would be worthless if console errors never reached the log.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fleetsim-html-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let page = folder.appendingPathComponent("broken.html")
        try Data("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>".utf8).write(to: page)
        let r = try Browser.run(["--dump-dom", page.absoluteString], in: folder)
        #expect(!Browser.pageErrors(r.log).isEmpty, "\(r.log)")
    }
}

enum Browser {
    static let path: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    struct Result { var stdout: String; var log: String }

    static func run(_ arguments: [String], in folder: URL) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path!)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--hide-scrollbars", "--user-data-dir=\(folder.appendingPathComponent("profile").path)",
                       "--virtual-time-budget=3000", "--enable-logging=stderr", "--v=0"] + arguments
        // The log goes to a file: a full stderr pipe nobody reads would block the browser.
        let logURL = folder.appendingPathComponent("chromium-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = log
        try p.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errData = (try? Data(contentsOf: logURL)) ?? Data()
        return Result(stdout: String(decoding: outData, as: UTF8.self), log: String(decoding: errData, as: UTF8.self))
    }

    /// Lines where the page itself complained: console messages and uncaught errors. (Chromium
    /// also logs its own environment, such as a missing D-Bus, which says nothing about the page.)
    static func pageErrors(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in
            line.contains("CONSOLE") || line.contains("Uncaught") || line.contains("console.error")
        }
    }
}
