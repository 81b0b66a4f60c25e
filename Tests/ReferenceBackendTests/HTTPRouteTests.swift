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

    /// Every family of the exposition as it was written by hand before swift-prometheus: name, type
    /// and help text. Scrapers and dashboards depend on them; a change here is a change of contract.
    static let families: [(name: String, type: String, help: String)] = [
        ("fleetsim_backend_connections_open", "gauge", "WebSocket device connections open now."),
        ("fleetsim_backend_upgrades_total", "counter", "WebSocket upgrades completed."),
        ("fleetsim_backend_handshakes_total", "counter", "Device handshakes (hello) by outcome."),
        ("fleetsim_backend_handshakes_pending", "gauge", "Handshakes waiting for the database, including ones whose device has gone."),
        ("fleetsim_backend_handshakes_pending_memory_bytes", "gauge", "Memory held by handshakes waiting for the database (--pending-memory each, stated: the memory guard adds it to the anonymous memory)."),
        ("fleetsim_backend_heartbeats_total", "counter", "Heartbeats acknowledged."),
        ("fleetsim_backend_rejects_total", "counter", "Requests, messages and connections turned away, by cause."),
        ("fleetsim_backend_fault_delayed_total", "counter", "Answers to a hello or a heartbeat sent late by the latency fault (/admin/fault)."),
        ("fleetsim_backend_fault_active", "gauge", "1 while a fault injected by /admin/fault is on, by kind."),
        ("fleetsim_backend_db_queue_length", "gauge", "Database jobs waiting for a worker."),
        ("fleetsim_backend_db_stated_cost_seconds", "gauge", "Stated cost of one query by kind (touch: one last_seen update), in wall-clock seconds: a worker is held this long even when the real query is faster. 0: none stated."),
        ("fleetsim_backend_db_padding_seconds_total", "counter", "Seconds database workers are held beyond their real queries to honour the stated costs (stated − real; slept with the query or a few queries later), by kind."),
        ("fleetsim_backend_db_slower_than_stated_total", "counter", "Queries that really took longer than their stated cost (not shortened), by kind."),
        ("fleetsim_backend_db_slower_than_stated_seconds_total", "counter", "Real seconds of the queries slower than their stated cost, by kind."),
        ("fleetsim_backend_db_slower_than_stated_stated_seconds_total", "counter", "Stated seconds of the queries slower than their stated cost, by kind (real over stated: how much slower)."),
        ("fleetsim_backend_db_probe_seconds", "gauge", "Median real lookup measured at start, before the listener opened, by kind (0: not measured)."),
        ("fleetsim_backend_db_rows", "gauge", "Rows in the devices table when the backend started (what a scan reads)."),
        ("fleetsim_backend_db_workers", "gauge", "Database worker threads."),
        ("fleetsim_backend_db_workers_busy", "gauge", "Database workers running a job now."),
        ("fleetsim_backend_db_busy_fraction", "gauge", "Fraction of database worker time spent in queries over the last second."),
        ("fleetsim_backend_db_busy_seconds_total", "counter", "Worker-seconds spent in database jobs."),
        ("fleetsim_backend_db_wait_seconds", "gauge", "How long the oldest database job still in the queue has waited so far (0 when none waits)."),
        ("fleetsim_backend_db_wait_seconds_total", "counter", "Seconds database jobs waited in the queue before a worker took them, summed over the jobs started."),
        ("fleetsim_backend_db_wait_seconds_count", "counter", "Database jobs started (rate of _total over rate of _count: the mean queue wait)."),
        ("fleetsim_backend_db_query_duration_seconds", "histogram", "Database query latency by kind (indexed lookup, scan lookup, register, last_seen batch)."),
        ("fleetsim_backend_last_seen_pending", "gauge", "Heartbeat last_seen updates not yet written."),
        ("fleetsim_backend_last_seen_written_total", "counter", "last_seen updates written."),
        ("fleetsim_backend_crashes_total", "counter", "Memory-guard crashes: every connection dropped, listener reopened after a delay."),
        ("fleetsim_backend_restarts_total", "counter", "Listener restarts (after crashes and admin restarts)."),
        ("fleetsim_backend_listening", "gauge", "1 while the device listener is open."),
        ("fleetsim_backend_blocked_ranges", "gauge", "Firmware ranges on the block list."),
        ("fleetsim_backend_process_info", "gauge", "This process (with --processes N, each answers /metrics for itself: scrape by pid)."),
        ("process_resident_memory_bytes", "gauge", "Resident memory of this process."),
        ("fleetsim_backend_memory_anonymous_bytes", "gauge", "Anonymous resident memory (the memory guard compares it, plus the pending handshakes' stated memory, with its limit)."),
        ("process_cpu_seconds_total", "counter", "User and system CPU time of this process."),
    ]

    @Test func everySeriesKeepsItsNameTypeLabelsAndHelpText() async throws {
        try await withBackend { backend, _ in
            let text = backend.metricsText()
            var help: [String: String] = [:], type: [String: String] = [:], series = Set<String>()
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                if line.hasPrefix("# HELP ") { help[parts[2]] = parts.count > 3 ? parts[3] : "" }
                else if line.hasPrefix("# TYPE ") { type[parts[2]] = parts[3] }
                else if let space = line.lastIndex(of: " ") { series.insert(String(line[..<space])) }
            }
            #expect(Set(help.keys) == Set(Self.families.map(\.name)))
            for family in Self.families {
                #expect(type[family.name] == family.type, "\(family.name)")
                #expect(help[family.name] == family.help, "\(family.name)")
            }
            var expected = Set(Self.families.map(\.name).filter {
                !["fleetsim_backend_handshakes_total", "fleetsim_backend_rejects_total", "fleetsim_backend_fault_active",
                  "fleetsim_backend_db_query_duration_seconds", "fleetsim_backend_process_info"].contains($0)
            })
            for o in HandshakeOutcome.allCases { expected.insert("fleetsim_backend_handshakes_total{outcome=\"\(o.rawValue)\"}") }
            for c in RejectCause.allCases { expected.insert("fleetsim_backend_rejects_total{cause=\"\(c.rawValue)\"}") }
            for k in FaultInjection.Kind.allCases { expected.insert("fleetsim_backend_fault_active{kind=\"\(k.rawValue)\"}") }
            let bounds = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                          "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "+Inf"]
            for kind in ["indexed", "scan", "register", "touch"] {
                let name = "fleetsim_backend_db_query_duration_seconds"
                for le in bounds { expected.insert("\(name)_bucket{kind=\"\(kind)\",le=\"\(le)\"}") }
                expected.insert("\(name)_sum{kind=\"\(kind)\"}")
                expected.insert("\(name)_count{kind=\"\(kind)\"}")
            }
            expected.insert("fleetsim_backend_process_info{pid=\"\(getpid())\",shares_port=\"false\"}")
            // The stated-cost database, by kind; its start-up probe for the two lookups.
            for name in ["fleetsim_backend_db_stated_cost_seconds", "fleetsim_backend_db_padding_seconds_total",
                         "fleetsim_backend_db_slower_than_stated_total", "fleetsim_backend_db_slower_than_stated_seconds_total",
                         "fleetsim_backend_db_slower_than_stated_stated_seconds_total"] {
                expected.remove(name)
                for kind in ["indexed", "scan", "touch"] { expected.insert("\(name){kind=\"\(kind)\"}") }
            }
            expected.remove("fleetsim_backend_db_probe_seconds")
            for kind in ["indexed", "scan"] { expected.insert("fleetsim_backend_db_probe_seconds{kind=\"\(kind)\"}") }
            #expect(series.subtracting(expected).isEmpty, "new: \(series.subtracting(expected).sorted())")
            #expect(expected.subtracting(series).isEmpty, "missing: \(expected.subtracting(series).sorted())")
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
