import Foundation
import Testing
@testable import LoadReport

@Suite struct ReportComparisonTests {
    @Test func identicalReportsHaveNoRegression() {
        let r = ReportFixture.report()
        let c = ReportComparison(base: r, new: r, maxRegression: 0.1)
        #expect(c.regressions.isEmpty && c.changed.isEmpty)
        #expect(c.table().hasPrefix("No metric changed."))
    }

    @Test func directionDecidesWhatIsARegression() {
        let base = ReportFixture.report(online: [100, 100, 90, 100])
        // Fewer online (higher is better) and slower handshakes (lower is better): both worse.
        let new = ReportFixture.report(online: [100, 100, 60, 100], samplesUs: Array(1...1000).map { UInt64($0) * 2_000 })
        let c = ReportComparison(base: base, new: new, maxRegression: 0.1)
        let names = Set(c.regressions.map(\.name))
        #expect(names.contains("online_fraction min") && names.contains("handshake_ms p99"))
        // The reverse is an improvement.
        let back = ReportComparison(base: new, new: base, maxRegression: 0.1)
        #expect(!back.regressions.contains { $0.name == "online_fraction min" || $0.name == "handshake_ms p99" })
        #expect(back.table().contains("better"))
    }

    @Test func theBoundIsRespectedAndZeroBaselinesRegressOnAnyIncrease() {
        let base = ReportFixture.report()
        var slightly = base
        slightly.storm.retryAmplification = 2.1   // +5%
        #expect(ReportComparison(base: base, new: slightly, maxRegression: 0.1).regressions.isEmpty)
        #expect(ReportComparison(base: base, new: slightly, maxRegression: 0.01).regressions.map(\.name) == ["retry_amplification"])
        let crashed = ReportFixture.report(crashes: 1)
        let c = ReportComparison(base: base, new: crashed, maxRegression: 0.5)
        #expect(c.regressions.map(\.name) == ["backend_crashes"])
        #expect(c.table().contains("+∞"))
    }

    @Test func neutralMetricsNeverRegress() {
        let c = ReportComparison(base: ReportFixture.report(devices: 100), new: ReportFixture.report(devices: 10_000, online: [10_000, 10_000, 4_000, 10_000]), maxRegression: 0)
        #expect(!c.regressions.contains { $0.name == "devices" || $0.name == "connects" })
    }

    @Test(arguments: [("10%", 0.1), ("0.25", 0.25), ("0%", 0), (" 5% ", 0.05)])
    func boundsParse(text: String, value: Double) throws {
        #expect(try ReportComparison.parseBound(text) == value)
    }

    @Test(arguments: ["10", "ten", "-5%", ""])
    func badBoundsAreRefused(text: String) {
        #expect(throws: ReportError.self) { try ReportComparison.parseBound(text) }
    }
}
