import Histogram
@testable import LoadReport

/// Small synthetic reports: known series, known latency samples.
enum ReportFixture {
    /// A histogram of latency samples given in microseconds, laid out as the engine lays its out.
    static func histogram(_ samplesUs: [UInt64]) -> Histogram<UInt64> {
        var h = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000,
                                  numberOfSignificantValueDigits: .three)
        h.autoResize = true
        for s in samplesUs { _ = h.record(s) }
        return h
    }

    /// A run of `intervals` one-minute intervals: `devices` eligible, `online[i]` of them online.
    static func report(scenario: String = "fixture", seed: UInt64 = 1, devices: Int = 100,
                       online: [Int] = [100, 100, 40, 100], samplesUs: [UInt64] = Array(1...1000).map { UInt64($0) * 1_000 },
                       crashes: Int = 0, thresholds: [(String, String)] = [],
                       milestones: [Report.Milestone] = []) -> Report {
        var series = Report.Series(intervalS: 60)
        let n = online.count
        series.tS = (1...n).map { Double($0) * 60 }
        series.online = online
        series.eligible = Array(repeating: devices, count: n)
        series.connects = online.indices.map { $0 == 0 ? online[0] : max(0, online[$0] - online[$0 - 1]) + 1 }
        series.disconnects = online.indices.map { $0 == 0 ? 0 : max(0, online[$0 - 1] - online[$0]) + 1 }
        series.connectAttempts = series.connects.map { $0 * 2 }
        series.handshakeTimeouts = Array(repeating: 1, count: n)
        series.ackTimeouts = Array(repeating: 0, count: n)
        series.rejects = Array(repeating: 0, count: n)
        series.crashes = (0..<n).map { $0 == 2 ? crashes : 0 }
        series.dbUtilization = (0..<n).map { [0.2, 0.5, 0.99, 0.3][$0 % 4] }
        series.dbWaitS = (0..<n).map { [0, 0.1, 4, 0][$0 % 4] }
        series.pendingHandshakes = (0..<n).map { $0 * 3 }
        series.backendMemoryBytes = (0..<n).map { Int64(256 << 20) + Int64($0) * (64 << 20) }
        series.handshakeP50Ms = (0..<n).map { $0 == 1 ? nil : 10 * Double($0 + 1) }
        series.handshakeP99Ms = (0..<n).map { $0 == 1 ? nil : 100 * Double($0 + 1) }
        let h = histogram(samplesUs)
        let fractions = online.map { Double($0) / Double(devices) }
        let summary = Report.Summary(
            devices: devices, durationS: Double(n) * 60, onlineFractionMin: fractions.min()!,
            onlineFractionFinal: fractions.last!, connectAttempts: series.connectAttempts.reduce(0, +),
            connects: series.connects.reduce(0, +), disconnects: series.disconnects.reduce(0, +),
            handshakeTimeouts: n, ackTimeouts: 0, rejects: 0, backendCrashes: crashes, recoveryS: nil,
            handshakeMs: ReportRules.percentiles(h), dbUtilizationMax: series.dbUtilization.max()!,
            dbUtilizationMean: series.dbUtilization.reduce(0, +) / Double(n),
            backendMemoryPeakBytes: series.backendMemoryBytes.max()!, eventsProcessed: 1000, wallS: 0.5)
        let storm = Report.Storm(retryAmplification: 2, peakReconnectRatePerS: 12, massDisconnects: [
            Report.MassDisconnect(tS: 120, cause: "gateway 0 crashed", devices: 60, to50PctS: 20, to95PctS: 50),
        ], timeTo50PctSMedian: 20, timeTo95PctSMedian: 50)
        return Report(mode: "simulate", scenario: scenario, seed: seed, clockStart: nil, summary: summary,
                      storm: storm, milestones: milestones, series: series,
                      thresholds: thresholds.map { Report.ThresholdResult(metric: $0.0, expression: $0.1) },
                      histograms: Report.Histograms(handshakeUs: h))
    }
}
