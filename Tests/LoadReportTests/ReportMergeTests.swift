import Foundation
import Histogram
import Testing
@testable import LoadReport

@Suite struct ReportMergeTests {
    static let samples: [[UInt64]] = [
        (0..<5_000).map { UInt64(1_000 + ($0 * 7919) % 400_000) },
        (0..<3_000).map { UInt64(50_000 + ($0 * 104_729) % 9_000_000) },
        (0..<20).map { UInt64(30_000_000 + $0 * 1_000) },
    ]

    /// Three shards of one run, with different latency samples and fleets.
    static func shards() -> [Report] {
        let thresholds = [("handshake_ms", "p99 < 10000"), ("online_fraction", "min > 0.5"), ("connect_attempts", "count < 400")]
        return [
            ReportFixture.report(devices: 100, online: [100, 100, 40, 100], samplesUs: Self.samples[0], crashes: 1, thresholds: thresholds),
            ReportFixture.report(devices: 50, online: [50, 50, 50, 50], samplesUs: Self.samples[1], crashes: 1, thresholds: thresholds),
            ReportFixture.report(devices: 10, online: [10, 9, 0, 10], samplesUs: Self.samples[2], crashes: 0, thresholds: thresholds),
        ]
    }

    @Test func countsAddUp() throws {
        let shards = Self.shards()
        let merged = try ReportMerge.merge(shards)
        #expect(merged.summary.devices == 160)
        #expect(merged.summary.connectAttempts == shards.map(\.summary.connectAttempts).reduce(0, +))
        #expect(merged.summary.connects == shards.map(\.summary.connects).reduce(0, +))
        #expect(merged.summary.disconnects == shards.map(\.summary.disconnects).reduce(0, +))
        #expect(merged.summary.handshakeTimeouts == 12)
        #expect(merged.series.online == [160, 159, 90, 160])
        #expect(merged.series.eligible == [160, 160, 160, 160])
        #expect(merged.series.connectAttempts == zip(zip(shards[0].series.connectAttempts, shards[1].series.connectAttempts), shards[2].series.connectAttempts).map { $0.0 + $0.1 + $1 })
        #expect(merged.histograms.handshakeUs.totalCount == 8_020)
        #expect(merged.summary.handshakeMs.count == 8_020)
        #expect(merged.summary.eventsProcessed == 3000)
        // The online fraction is recomputed from the merged fleet, not the worst shard's.
        #expect(merged.summary.onlineFractionMin == 90.0 / 160)
        #expect(merged.storm.retryAmplification == Double(merged.summary.connectAttempts) / Double(merged.summary.connects))
        // One backend seen by every shard: the maximum, not the sum.
        #expect(merged.summary.backendCrashes == 1)
        #expect(merged.series.dbUtilization == shards[0].series.dbUtilization)
    }

    @Test func mergedPercentilesEqualThoseOfTheUnionOfSamples() throws {
        let merged = try ReportMerge.merge(Self.shards())
        // Every shard's samples recorded into one histogram: what a single run would have stored.
        let union = ReportFixture.histogram(Self.samples.flatMap { $0 })
        let m = merged.histograms.handshakeUs
        for p in [0.0, 1, 10, 50, 90, 95, 99, 99.5, 99.9, 99.99, 100] {
            #expect(m.valueAtPercentile(p) == union.valueAtPercentile(p), "p\(p)")
        }
        #expect(m.maxRecorded == union.maxRecorded && m.min == union.min && m.mean == union.mean)
        #expect(m == union)
        #expect(merged.summary.handshakeMs == ReportRules.percentiles(union))
        #expect(merged.summary.handshakeMs.max == 30_019)
    }

    @Test func thresholdsAreEvaluatedOnTheMergedData() throws {
        var shards = Self.shards()
        for i in shards.indices { try shards[i].evaluateThresholds() }
        // Each shard alone passes `count < 400` attempts; together they do not.
        #expect(shards.allSatisfy { $0.thresholds[2].ok == true })
        let merged = try ReportMerge.merge(shards)
        #expect(merged.thresholds[2].ok == false)
        #expect(merged.thresholds[2].value == Double(merged.summary.connectAttempts))
        #expect(merged.thresholds[1].value == 90.0 / 160)
    }

    @Test func aMergedReportSurvivesJSON() throws {
        let merged = try ReportMerge.merge(Self.shards())
        let again = try Report.read(from: try merged.jsonData())
        #expect(again.summary == merged.summary && again.series == merged.series && again.thresholds == merged.thresholds)
        #expect(again.histograms.handshakeUs == merged.histograms.handshakeUs)
    }

    @Test func reportsOfDifferentRunsAreRefused() throws {
        let a = ReportFixture.report(scenario: "rollout-a")
        #expect(throws: ReportError("report 2 is of scenario \"rollout-b\", report 1 of \"rollout-a\": only shards of one run merge")) {
            try ReportMerge.merge([a, ReportFixture.report(scenario: "rollout-b")])
        }
        #expect { try ReportMerge.merge([a, ReportFixture.report(scenario: "rollout-a", seed: 9)]) } throws: { e in
            (e as? ReportError)?.message.contains("seed") == true
        }
        #expect { try ReportMerge.merge([a, ReportFixture.report(scenario: "rollout-a", online: [1, 2])]) } throws: { e in
            (e as? ReportError)?.message.contains("different intervals") == true
        }
        #expect(throws: ReportError.self) { try ReportMerge.merge([]) }
    }

    @Test func timelineMilestonesAppearOnceAndIncompleteShardsAreNamed() throws {
        let event = Report.Milestone(tS: 60, kind: .timeline, detail: "firmware >=3.8 blocked")
        var a = ReportFixture.report(milestones: [event])
        var b = ReportFixture.report(milestones: [event, Report.Milestone(tS: 30, kind: .backendCrash, detail: "gateway 1")])
        b.incomplete = "interrupted"
        a.summary.recoveryS = 10
        b.summary.recoveryS = 40
        let merged = try ReportMerge.merge([a, b])
        #expect(merged.milestones.map(\.tS) == [30, 60])
        #expect(merged.incomplete == "shard report 2: interrupted")
        #expect(merged.summary.recoveryS == 40)
    }
}
