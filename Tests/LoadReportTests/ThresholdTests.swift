import Foundation
import Testing
@testable import LoadReport

@Suite struct ThresholdParsingTests {
    typealias E = ThresholdExpression

    @Test(arguments: [
        ("p99 < 500", E(aggregation: .percentile(99), comparison: .less, bound: 500)),
        ("p(95)<=200", E(aggregation: .percentile(95), comparison: .lessOrEqual, bound: 200)),
        ("p(99.9) > 1", E(aggregation: .percentile(99.9), comparison: .greater, bound: 1)),
        ("  min >= 0.95 ", E(aggregation: .min, comparison: .greaterOrEqual, bound: 0.95)),
        ("count == 0", E(aggregation: .count, comparison: .equal, bound: 0)),
        ("value != 3", E(aggregation: .value, comparison: .notEqual, bound: 3)),
        ("mean < 40%", E(aggregation: .avg, comparison: .less, bound: 0.4)),
        ("med < 1e3", E(aggregation: .med, comparison: .less, bound: 1000)),
        ("< 1800", E(aggregation: nil, comparison: .less, bound: 1800)),
        ("rate > -1", E(aggregation: .rate, comparison: .greater, bound: -1)),
    ])
    func conditionsParse(text: String, expected: ThresholdExpression) throws {
        #expect(try ThresholdExpression.parse(text) == expected)
    }

    @Test(arguments: [
        ("p99 <", "expected a number after \"<\""),
        ("p99 = 500", "did you mean \"==\"?"),
        ("p99 => 500", "did you mean \">=\"?"),
        ("p99 500", "expected a condition like"),
        ("500 > p99", "the comparison comes after the aggregation"),
        ("p999 < 5", "percentile between 0 and 100"),
        ("p(abc) < 5", "percentile between 0 and 100"),
        ("p(95 < 5", "missing \")\""),
        ("maxx < 5", "did you mean \"max\"?"),
        ("max < 500ms", "expected a number after \"<\", got \"500ms\""),
        ("max(3) < 5", "only p(…) takes an argument"),
        ("", "expected a condition like"),
    ])
    func badConditionsSayWhatIsWrong(text: String, message: String) {
        #expect {
            try ThresholdExpression.parse(text)
        } throws: { error in
            (error as? ThresholdError)?.message.contains(message) == true
        }
    }

    @Test func unknownMetricsSuggestTheClosest() {
        #expect(throws: ThresholdError("unknown metric \"handshake_mss\"; did you mean \"handshake_ms\"?")) {
            try Thresholds.check(metric: "handshake_mss", expression: "p99 < 5")
        }
        #expect { try Thresholds.check(metric: "zzz", expression: "max < 5") } throws: { error in
            (error as? ThresholdError)?.message.contains("(metrics: ") == true
        }
    }

    @Test(arguments: [
        ("recovery_s", "p99 < 5"), ("handshake_ms", "< 5"), ("handshake_ms", "rate < 5"),
        ("online_fraction", "count > 1"), ("db_utilization", "rate < 1"),
    ])
    func aggregationsAMetricDoesNotHaveAreRefused(metric: String, expression: String) {
        #expect { try Thresholds.check(metric: metric, expression: expression) } throws: { error in
            (error as? ThresholdError)?.message.contains("\(metric) does not support") == true
        }
    }

    @Test func everyMetricNameIsKnownWithoutAReport() throws {
        for name in ["handshake_ms", "online_fraction", "backend_crashes", "recovery_s", "connect_attempts",
                     "retry_amplification", "db_utilization", "db_wait_s", "pending_handshakes",
                     "backend_memory_bytes", "handshake_p99_ms", "online", "eligible"] {
            #expect(ReportMetrics.names.contains(name), "\(name)")
        }
    }
}

@Suite struct ThresholdEvaluationTests {
    let report = ReportFixture.report(crashes: 2)

    func measure(_ metric: String, _ expression: String) throws -> (Double?, Bool?) {
        let r = try Thresholds.evaluate(Report.ThresholdResult(metric: metric, expression: expression), in: report)
        return (r.value, r.ok)
    }

    @Test func latencyComesFromTheStoredHistogram() throws {
        let h = report.histograms.handshakeUs
        #expect(try measure("handshake_ms", "p99 < 500") == (Double(h.valueAtPercentile(99)) / 1000, false))
        #expect(try measure("handshake_ms", "p(95) < 2000") == (Double(h.valueAtPercentile(95)) / 1000, true))
        #expect(try measure("handshake_ms", "max <= 1000") == (Double(h.maxRecorded) / 1000, true))
        #expect(try measure("handshake_ms", "count == 1000") == (1000, true))
        let (p50, _) = try measure("handshake_ms", "med > 0")
        #expect(abs(p50! - 500) < 1)
        let (avg, ok) = try measure("handshake_ms", "avg < 400")
        #expect(abs(avg! - 500.5) < 1 && ok == false)
        let (min, _) = try measure("handshake_ms", "min >= 1")
        #expect(abs(min! - 1) < 0.01)
    }

    @Test func onlineFractionAggregations() throws {
        #expect(try measure("online_fraction", "min > 0.95") == (0.4, false))
        #expect(try measure("online_fraction", "final >= 1") == (1, true))
        #expect(try measure("online_fraction", "avg > 0.8") == (0.85, true))
        #expect(try measure("online_fraction", "max == 1") == (1, true))
    }

    @Test func countersAreTotalsPerIntervalAndRates() throws {
        #expect(try measure("backend_crashes", "count == 0") == (2, false))
        #expect(try measure("backend_crashes", "== 2") == (2, true))
        #expect(try measure("backend_crashes", "max < 3") == (2, true))
        let attempts = Double(report.summary.connectAttempts)
        #expect(try measure("connect_attempts", "value < 1") == (attempts, false))
        #expect(try measure("connect_attempts", "rate < 100") == (attempts / 240, true))
        #expect(try measure("connect_attempts", "max > 0") == (Double(report.series.connectAttempts.max()!), true))
    }

    @Test func seriesAndSingleValues() throws {
        #expect(try measure("db_utilization", "max < 0.9") == (0.99, false))
        #expect(try measure("db_utilization", "avg < 0.5") == (report.summary.dbUtilizationMean, true))
        #expect(try measure("db_utilization", "final < 0.5") == (0.3, true))
        #expect(try measure("db_wait_s", "p(75) < 1") == (0.1, true))
        #expect(try measure("db_wait_s", "med == 0") == (0, true))
        #expect(try measure("pending_handshakes", "sum == 18") == (18, true))
        #expect(try measure("handshake_p99_ms", "max < 500") == (400, true))
        #expect(try measure("backend_memory_bytes", "max < 1000000000") == (Double(report.summary.backendMemoryPeakBytes), true))
        #expect(try measure("retry_amplification", "< 1.5") == (2, false))
        #expect(try measure("retry_amplification", "value <= 2") == (2, true))
        #expect(try measure("mass_disconnects", "value == 1") == (1, true))
        #expect(try measure("time_to_95pct_s", "< 60") == (50, true))
    }

    @Test func recoveryIsZeroWithoutACollapseAndInfiniteWithoutARecovery() throws {
        #expect(try measure("recovery_s", "value < 1800") == (0, true))
        let collapsed = ReportFixture.report(milestones: [Report.Milestone(tS: 120, kind: .fleetCollapse, detail: "40% online")])
        let r = try Thresholds.evaluate(Report.ThresholdResult(metric: "recovery_s", expression: "value < 1800"), in: collapsed)
        #expect(r.value == .infinity && r.ok == false)
        var recovered = collapsed
        recovered.summary.recoveryS = 300
        #expect(try Thresholds.evaluate(Report.ThresholdResult(metric: "recovery_s", expression: "< 1800"), in: recovered).ok == true)
    }

    @Test func aThresholdWithNothingToMeasureFails() throws {
        let empty = ReportFixture.report(samplesUs: [])
        let r = try Thresholds.evaluate(Report.ThresholdResult(metric: "handshake_ms", expression: "p99 < 500"), in: empty)
        #expect(r.value == nil && r.ok == false)
        let count = try Thresholds.evaluate(Report.ThresholdResult(metric: "handshake_ms", expression: "count == 0"), in: empty)
        #expect(count.value == 0 && count.ok == true)
    }

    @Test func evaluatingAReportFillsEveryThresholdAndNamesTheBadOne() throws {
        var r = ReportFixture.report(thresholds: [("online_fraction", "min > 0.3"), ("handshake_ms", "p99 < 100")])
        try r.evaluateThresholds()
        #expect(r.thresholds.map(\.ok) == [true, false])
        #expect(!r.thresholdsHeld)
        var bad = ReportFixture.report(thresholds: [("handshake_ms", "p99 <> 100")])
        #expect { try bad.evaluateThresholds() } throws: { error in
            (error as? ThresholdError)?.message.hasPrefix("thresholds.handshake_ms: \"p99 <> 100\": unknown comparison") == true
        }
    }

    @Test func abortOnFailWatchesOnlyTheGivenThresholds() throws {
        let watched = [Report.ThresholdResult(metric: "backend_crashes", expression: "count == 0"),
                       Report.ThresholdResult(metric: "online_fraction", expression: "min > 0.1")]
        let failing = try Thresholds.abortingFailures(watched, in: report)
        #expect(failing.map(\.metric) == ["backend_crashes"])
    }
}
