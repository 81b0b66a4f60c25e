import Foundation
import Testing
@testable import ReferenceBackend

@Suite(.tags(.network)) struct HTTPRouteTests {
    @Test func metricsListEverySeriesTheIssueAsksFor() async throws {
        try await withBackend { _, port in
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2").close()
            let r = try await TestConnection.http(port: port, path: "/metrics")
            #expect(r.status == 200)
            #expect(r.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = r.body
            for family in ["fleetsim_backend_connections_open", "fleetsim_backend_handshakes_total", "fleetsim_backend_handshakes_pending",
                           "fleetsim_backend_db_queue_length", "fleetsim_backend_db_query_duration_seconds", "fleetsim_backend_db_busy_fraction",
                           "process_resident_memory_bytes", "process_cpu_seconds_total", "fleetsim_backend_crashes_total",
                           "fleetsim_backend_rejects_total"] {
                #expect(text.contains("# TYPE \(family) "), "missing \(family)")
            }
            #expect(metricValue(text, "fleetsim_backend_handshakes_total{outcome=\"welcome\"}") == 1)
            #expect(metricValue(text, "fleetsim_backend_db_query_duration_seconds_count{kind=\"indexed\"}") == 1)
            #expect(metricValue(text, "fleetsim_backend_db_query_duration_seconds_bucket{kind=\"indexed\",le=\"+Inf\"}") == 1)
            #expect((metricValue(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        }
    }

    @Test func busyDatabaseShowsInBusyFractionAndQueueLength() async throws {
        try await withBackend { backend, port in
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            let (c, _) = try await TestConnection.upgrade(port: port)
            try await c!.send(text: hello(DeviceRegistry.seededUUID(index: 1), "3.7.2"))
            // The busy fraction is sampled every second; the one worker is held the whole time.
            #expect(await eventually(4) { backend.core.busyFraction > 0.9 })
            let text = try await TestConnection.http(port: port, path: "/metrics").body
            #expect((metricValue(text, "fleetsim_backend_db_busy_fraction") ?? 0) > 0.9)
            #expect(metricValue(text, "fleetsim_backend_db_queue_length") == 1)
            #expect(metricValue(text, "fleetsim_backend_handshakes_pending") == 1)
            #expect(metricValue(text, "fleetsim_backend_db_workers_busy") == 1)
            gate.release()
            #expect(try await c!.next() == .text("{\"type\":\"welcome\"}"))
            c!.close()
        }
    }

    @Test func healthzAndUnknownRoutes() async throws {
        try await withBackend { backend, port in
            let ok = try await TestConnection.http(port: port, path: "/healthz")
            #expect(ok.status == 200 && ok.body == "ok\n")
            #expect(try await TestConnection.http(port: port, path: "/nope").status == 404)
            let (c, r) = try await TestConnection.upgrade(port: port, path: "/elsewhere")
            #expect(c == nil && r.status == 404)
            #expect(backend.stats.rejects[.notFound] == 2)
        }
    }
}
