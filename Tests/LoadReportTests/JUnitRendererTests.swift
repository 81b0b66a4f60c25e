import Foundation
import Testing
@testable import LoadReport

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct JUnitRendererTests {
    func parse(_ xml: String) throws -> XMLDocument { try XMLDocument(xmlString: xml, options: []) }

    @Test func oneTestCasePerThresholdWithTheMeasuredValueInTheFailure() throws {
        var report = ReportFixture.report(scenario: "rollout <gate> & co", crashes: 2,
                                          thresholds: [("backend_crashes", "count == 0"), ("online_fraction", "min > 0.3"),
                                                       ("handshake_ms", "p99 < 500")])
        try report.evaluateThresholds()
        let doc = try parse(JUnitRenderer.render(report))
        let root = try #require(doc.rootElement())
        #expect(root.name == "testsuites")
        #expect(root.attribute(forName: "tests")?.stringValue == "3")
        #expect(root.attribute(forName: "failures")?.stringValue == "2")
        let suite = try #require(root.elements(forName: "testsuite").first)
        #expect(suite.attribute(forName: "name")?.stringValue == "fleetsim.rollout <gate> & co")
        let cases = suite.elements(forName: "testcase")
        #expect(cases.count == 3)
        #expect(cases.map { $0.attribute(forName: "name")?.stringValue } == ["backend_crashes: count == 0", "online_fraction: min > 0.3", "handshake_ms: p99 < 500"])
        let failure = try #require(cases[0].elements(forName: "failure").first)
        #expect(failure.attribute(forName: "message")?.stringValue == "backend_crashes count == 0 failed: measured 2")
        #expect(cases[1].elements(forName: "failure").isEmpty)
        let p99 = try #require(cases[2].elements(forName: "failure").first?.attribute(forName: "message")?.stringValue)
        #expect(p99.hasPrefix("handshake_ms p99 < 500 failed: measured 99"))
    }

    @Test func anIncompleteRunIsATestCaseInErrorAndUnevaluatedThresholdsAreSkipped() throws {
        var report = ReportFixture.report(thresholds: [("backend_crashes", "count == 0")])
        report.incomplete = "interrupted at +1h"
        let root = try #require(try parse(JUnitRenderer.render(report)).rootElement())
        #expect(root.attribute(forName: "errors")?.stringValue == "1")
        #expect(root.attribute(forName: "skipped")?.stringValue == "1")
        let cases = root.elements(forName: "testsuite").first!.elements(forName: "testcase")
        #expect(cases.count == 2)
        #expect(cases[0].elements(forName: "error").first?.attribute(forName: "message")?.stringValue == "the run did not complete: interrupted at +1h")
        #expect(cases[1].elements(forName: "skipped").count == 1)
    }
}
