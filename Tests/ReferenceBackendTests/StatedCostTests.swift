import DeviceModel
import Foundation
import NIOCore
import Testing
@testable import ReferenceBackend

/// The database of a stated capacity: a query faster than its stated cost holds its worker for
/// the stated cost (the real query still runs); a slower one is not shortened and is counted.
@Suite(.serialized, .tags(.network)) struct StatedCostTests {
    @Test func aWorkerIsHeldForTheSumOfItsStatedCosts() {
        CostHold.prepareWorkerThread()
        var balance = CostHold.Balance()
        // A query stated above the settling threshold is held at once, never less than stated.
        let start = DispatchTime.now().uptimeNanoseconds
        let slept = CostHold.charge(&balance, real: 1_000_000, stated: 16_000_000)
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        #expect(slept >= 15_000_000 && elapsed >= 15_000_000, "slept \(slept) ns of the 15 ms owed")
        #expect(elapsed < 15_000_000 + 30_000_000, "a loaded CI machine may wake late, not this late: \(elapsed) ns")
        // What the sleep overshot is credited to the next queries.
        #expect(balance.owed <= 0 && balance.owed >= CostHold.maxCredit)
        // Small stated costs are paid a few at a time: 40 lookups stated at 0.25 ms, real 0.05 ms,
        // are held for 40 × 0.2 ms = 8 ms in all, in a few sleeps.
        balance = CostHold.Balance()
        var sleeps = 0
        var total: UInt64 = 0
        let begin = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<40 {
            let s = CostHold.charge(&balance, real: 50_000, stated: 250_000)
            if s > 0 { sleeps += 1; total += s }
        }
        let all = DispatchTime.now().uptimeNanoseconds - begin
        #expect(sleeps >= 1 && sleeps <= 8, "\(sleeps) sleeps")
        #expect(Int64(total) + balance.owed >= 8_000_000, "slept \(total) ns, balance \(balance.owed) ns")
        #expect(all >= 8_000_000 - UInt64(CostHold.settleAt), "held \(all) ns")
        // A query slower than stated sleeps nothing, and its excess is taken from the padding to come.
        var fresh = CostHold.Balance()
        #expect(CostHold.charge(&fresh, real: 3_000_000, stated: 1_000_000) == 0)
        #expect(fresh.owed == -2_000_000)
        #expect(CostHold.charge(&fresh, real: 0, stated: 2_500_000) == 0, "the 0.5 ms still owed is below the settling threshold")
        #expect(fresh.owed == 500_000)
    }

    @Test func aScanFasterThanItsStatedCostHoldsItsWorkerForIt() async throws {
        let stated = 40.0 / 1000
        try await withBackend(rows: 2_000, {
            $0.lookup = try! LookupPolicy(parsing: "scan:>=3.8.0-b3")
            $0.statedCosts = StatedQueryCosts(scan: .milliseconds(40))
        }) { backend, port in
            // One worker, five scans at once: the fifth answer waits for four stated costs before its own.
            let start = DispatchTime.now().uptimeNanoseconds
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<5 {
                    group.addTask {
                        let d = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: i), firmware: "3.8.0-b3")
                        d.close()
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            #expect(elapsed >= 5 * stated, "5 scans on 1 worker at a stated 40 ms took \(elapsed) s")
            #expect(elapsed < 5 * stated + 1.0, "5 scans on 1 worker at a stated 40 ms took \(elapsed) s")
            let m = try PrometheusText(parsing: backend.metricsText())
            let scan = ["kind": "scan"]
            #expect(m.value(BackendMetricName.databaseStatedCostSeconds, labels: scan) == stated)
            #expect(m.value(BackendMetricName.databaseQuerySeconds + "_count", labels: scan) == 5)
            #expect(m.value(BackendMetricName.databaseSlowerTotal, labels: scan) == 0)
            // The real scans of 2,000 rows took far less: the rest was padding, and the worker was busy throughout.
            let real = try #require(m.value(BackendMetricName.databaseQuerySeconds + "_sum", labels: scan))
            let padding = try #require(m.value(BackendMetricName.databasePaddingSecondsTotal, labels: scan))
            #expect(real > 0)
            #expect(abs(real + padding - 5 * stated) < 0.05, "real \(real) s + padding \(padding) s for 5 × 40 ms")
            #expect((m.value(BackendMetricName.databaseProbeSeconds, labels: scan) ?? 0) > 0)
            #expect(m.value(BackendMetricName.databaseRows) == 2_000)
        }
    }

    @Test func aScanSlowerThanItsStatedCostIsNotShortenedAndIsCounted() async throws {
        try await withBackend(rows: 50_000, {
            $0.lookup = try! LookupPolicy(parsing: "scan:>=3.8.0-b3")
            $0.statedCosts = StatedQueryCosts(scan: .microseconds(5), indexed: .seconds(1))
        }) { backend, port in
            let d = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 7), firmware: "3.8.0-b3")
            d.close()
            let m = try PrometheusText(parsing: backend.metricsText())
            let scan = ["kind": "scan"]
            #expect(m.value(BackendMetricName.databaseSlowerTotal, labels: scan) == 1)
            let real = try #require(m.value(BackendMetricName.databaseSlowerSecondsTotal, labels: scan))
            let stated = try #require(m.value(BackendMetricName.databaseSlowerStatedSecondsTotal, labels: scan))
            #expect(real > stated, "a 50,000-row scan in \(real) s against a stated \(stated) s")
            #expect(m.value(BackendMetricName.databasePaddingSecondsTotal, labels: scan) == 0)
            // The probe at start saw it too, before any device came.
            #expect((m.value(BackendMetricName.databaseProbeSeconds, labels: scan) ?? 0) > 5e-6)
        }
    }

    @Test func theWarningLineSaysWhichQueryAndHowMuchSlower() {
        let line = StatedCostWarning.line(kind: "scan", realSeconds: 0.0952, statedSeconds: 0.0817, rows: 60_000)
        #expect(line == "scan lookups take 95.2 ms on this machine (60000 rows), 1.17× their stated 81.7 ms")
    }
}
