import DeviceModel
import Foundation
import ReferenceBackend
import Testing
@testable import FleetSim

/// What `fleetsim run` reads from an embedded backend's `/metrics`: the text parses with the live
/// runner's own parser, over its own HTTP client, and carries every series `LiveRunner.scrape` reads.
@Suite(.serialized) struct LiveScrapeTests {
    /// The series `LiveRunner.scrape` turns into the report's backend sample.
    static let scraped = ["fleetsim_backend_db_busy_fraction", "fleetsim_backend_db_wait_seconds",
                          "fleetsim_backend_memory_anonymous_bytes", "fleetsim_backend_handshakes_pending",
                          "fleetsim_backend_crashes_total"]

    @Test func theBackendsMetricsParseAndCarryEverySeriesTheLiveRunnerReads() async throws {
        var config = ReferenceBackendConfiguration()
        config.rows = 1_000
        config.databaseWorkers = 1
        config.eventLoopThreads = 1
        config.controlPort = 0
        let backend = ReferenceBackend(configuration: config)
        _ = try await backend.start()
        do {
            let control = try #require(backend.controlPort)
            // The runner's client blocks its thread: keep it off the cooperative pool.
            let response = try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result { try HTTPRequest.send("GET", "http://127.0.0.1:\(control)/metrics", timeout: 5) })
                }
            }
            #expect(response.status == 200)
            let metrics = try PrometheusText(parsing: response.body)
            for name in Self.scraped {
                #expect(metrics.samples.filter { $0.name == name }.count == 1, "\(name): one series, unlabelled")
            }
            #expect(metrics.sum("fleetsim_backend_handshakes_pending") == 0)
            #expect(metrics.sum("fleetsim_backend_crashes_total") == 0)
            #expect(metrics.max("fleetsim_backend_db_wait_seconds") == 0)
            #expect((0...1).contains(metrics.sum("fleetsim_backend_db_busy_fraction") ?? -1))
            #expect((metrics.sum("fleetsim_backend_memory_anonymous_bytes") ?? 0) > 1_000_000)
            // The process line names this process: `--processes N` is scraped by pid.
            let info = metrics.samples.first { $0.name == "fleetsim_backend_process_info" }
            #expect(info?.labels == ["pid": "\(getpid())", "shares_port": "false"] && info?.value == 1)
        } catch {
            try? await backend.shutdown()
            throw error
        }
        try await backend.shutdown()
    }
}
