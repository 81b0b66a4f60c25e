import Foundation

/// `/metrics`: every counter and gauge in Prometheus text format (version 0.0.4).
extension BackendCore {
    func renderMetrics() -> String {
        let s = metrics.snapshot
        var out = ""
        out.reserveCapacity(8192)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func line(_ name: String, _ labels: String = "", _ value: CustomStringConvertible) {
            out += labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n"
        }
        family("fleetsim_backend_connections_open", "gauge", "WebSocket device connections open now.")
        line("fleetsim_backend_connections_open", "", s.openConnections)
        family("fleetsim_backend_upgrades_total", "counter", "WebSocket upgrades completed.")
        line("fleetsim_backend_upgrades_total", "", s.upgrades)
        family("fleetsim_backend_handshakes_total", "counter", "Device handshakes (hello) by outcome.")
        for o in HandshakeOutcome.allCases { line("fleetsim_backend_handshakes_total", "outcome=\"\(o.rawValue)\"", s.handshakes[o] ?? 0) }
        family("fleetsim_backend_handshakes_pending", "gauge", "Handshakes waiting for the database, including ones whose device has gone.")
        line("fleetsim_backend_handshakes_pending", "", s.pendingHandshakes)
        family("fleetsim_backend_handshakes_pending_memory_bytes", "gauge", "Memory held by handshakes waiting for the database (--pending-memory each).")
        line("fleetsim_backend_handshakes_pending_memory_bytes", "", pendingMemory.heldBytes)
        family("fleetsim_backend_heartbeats_total", "counter", "Heartbeats acknowledged.")
        line("fleetsim_backend_heartbeats_total", "", s.heartbeats)
        family("fleetsim_backend_rejects_total", "counter", "Requests, messages and connections turned away, by cause.")
        for c in RejectCause.allCases { line("fleetsim_backend_rejects_total", "cause=\"\(c.rawValue)\"", s.rejects[c] ?? 0) }
        family("fleetsim_backend_fault_delayed_total", "counter", "Answers to a hello or a heartbeat sent late by the latency fault (/admin/fault).")
        line("fleetsim_backend_fault_delayed_total", "", s.faultDelayed)
        let injected = faults
        family("fleetsim_backend_fault_active", "gauge", "1 while a fault injected by /admin/fault is on, by kind.")
        for kind in FaultInjection.Kind.allCases {
            line("fleetsim_backend_fault_active", "kind=\"\(kind.rawValue)\"", injected.isOn(kind) ? 1 : 0)
        }
        family("fleetsim_backend_db_queue_length", "gauge", "Database jobs waiting for a worker.")
        line("fleetsim_backend_db_queue_length", "", database?.queueLength ?? 0)
        family("fleetsim_backend_db_workers", "gauge", "Database worker threads.")
        line("fleetsim_backend_db_workers", "", database?.workers ?? 0)
        family("fleetsim_backend_db_workers_busy", "gauge", "Database workers running a job now.")
        line("fleetsim_backend_db_workers_busy", "", database?.activeWorkers ?? 0)
        family("fleetsim_backend_db_busy_fraction", "gauge", "Fraction of database worker time spent in queries over the last second.")
        line("fleetsim_backend_db_busy_fraction", "", String(format: "%.4f", busyFraction))
        family("fleetsim_backend_db_busy_seconds_total", "counter", "Worker-seconds spent in database jobs.")
        line("fleetsim_backend_db_busy_seconds_total", "", String(format: "%.6f", database?.busySeconds ?? 0))
        let waits = database?.waits ?? (oldestSeconds: 0, totalSeconds: 0, started: 0)
        family("fleetsim_backend_db_wait_seconds", "gauge", "How long the oldest database job still in the queue has waited so far (0 when none waits).")
        line("fleetsim_backend_db_wait_seconds", "", String(format: "%.6f", waits.oldestSeconds))
        family("fleetsim_backend_db_wait_seconds_total", "counter", "Seconds database jobs waited in the queue before a worker took them, summed over the jobs started.")
        line("fleetsim_backend_db_wait_seconds_total", "", String(format: "%.6f", waits.totalSeconds))
        family("fleetsim_backend_db_wait_seconds_count", "counter", "Database jobs started (rate of _total over rate of _count: the mean queue wait).")
        line("fleetsim_backend_db_wait_seconds_count", "", waits.started)
        family("fleetsim_backend_db_query_duration_seconds", "histogram", "Database query latency by kind (indexed lookup, scan lookup, register, last_seen batch).")
        for kind in QueryKind.allCases {
            let h = s.queries[kind] ?? BackendMetrics.Histogram()
            var cumulative: UInt64 = 0
            for (i, bound) in BackendMetrics.bucketBounds.enumerated() {
                cumulative += h.buckets[i]
                line("fleetsim_backend_db_query_duration_seconds_bucket", "kind=\"\(kind.rawValue)\",le=\"\(bound)\"", cumulative)
            }
            line("fleetsim_backend_db_query_duration_seconds_bucket", "kind=\"\(kind.rawValue)\",le=\"+Inf\"", h.count)
            line("fleetsim_backend_db_query_duration_seconds_sum", "kind=\"\(kind.rawValue)\"", String(format: "%.6f", h.sum))
            line("fleetsim_backend_db_query_duration_seconds_count", "kind=\"\(kind.rawValue)\"", h.count)
        }
        family("fleetsim_backend_last_seen_pending", "gauge", "Heartbeat last_seen updates not yet written.")
        line("fleetsim_backend_last_seen_pending", "", lastSeen.count)
        family("fleetsim_backend_last_seen_written_total", "counter", "last_seen updates written.")
        line("fleetsim_backend_last_seen_written_total", "", s.lastSeenWritten)
        family("fleetsim_backend_crashes_total", "counter", "Memory-guard crashes: every connection dropped, listener reopened after a delay.")
        line("fleetsim_backend_crashes_total", "", s.crashes)
        family("fleetsim_backend_restarts_total", "counter", "Listener restarts (after crashes and admin restarts).")
        line("fleetsim_backend_restarts_total", "", s.restarts)
        family("fleetsim_backend_listening", "gauge", "1 while the device listener is open.")
        line("fleetsim_backend_listening", "", s.listening ? 1 : 0)
        family("fleetsim_backend_blocked_ranges", "gauge", "Firmware ranges on the block list.")
        line("fleetsim_backend_blocked_ranges", "", blockList.current.count)
        family("fleetsim_backend_process_info", "gauge", "This process (with --processes N, each answers /metrics for itself: scrape by pid).")
        line("fleetsim_backend_process_info", "pid=\"\(getpid())\",shares_port=\"\(configuration.reusePort)\"", 1)
        family("process_resident_memory_bytes", "gauge", "Resident memory of this process.")
        line("process_resident_memory_bytes", "", ProcessStats.residentBytes())
        family("fleetsim_backend_memory_anonymous_bytes", "gauge", "Anonymous resident memory (what the memory guard compares with its limit).")
        line("fleetsim_backend_memory_anonymous_bytes", "", ProcessStats.anonymousBytes())
        family("process_cpu_seconds_total", "counter", "User and system CPU time of this process.")
        line("process_cpu_seconds_total", "", String(format: "%.3f", ProcessStats.cpuSeconds()))
        return out
    }

}
