import DeviceModel
import Foundation
import NIOCore
import Testing
@testable import ReferenceBackend

/// What the live runner's timeline needs from a backend process: its own control port, a restart
/// for a given time, a database that can be slowed, and a queue wait it can scrape.
@Suite(.tags(.network)) struct LiveRunnerControlTests {
    static let auth = ["Authorization": "Bearer t"]

    @Test func theControlPortServesMetricsHealthAndAdminButNoDevices() async throws {
        try await withBackend({ $0.adminToken = "t"; $0.controlPort = 0 }) { backend, port in
            let control = try #require(backend.controlPort)
            #expect(control != port)
            #expect(try await TestConnection.http(port: control, path: "/healthz").status == 200)
            let metrics = try await TestConnection.http(port: control, path: "/metrics")
            #expect(metrics.status == 200 && metrics.body.contains("pid=\"\(getpid())\""))
            #expect(try await TestConnection.http(port: control, path: "/admin", headers: Self.auth).status == 200)
            #expect(try await TestConnection.http(port: control, path: "/admin").status == 401)
            let (upgraded, refused) = try await TestConnection.upgrade(port: control)
            #expect(upgraded == nil && refused.status == 404, "devices connect to the main port only")
        }
    }

    @Test func aRestartForAGivenTimeKeepsTheControlPortOpen() async throws {
        try await withBackend({ $0.adminToken = "t"; $0.controlPort = 0; $0.restartDelay = .seconds(60) }) { backend, port in
            let control = try #require(backend.controlPort)
            let device = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2")
            let r = try await TestConnection.http(port: control, method: "POST", path: "/admin/restart", headers: Self.auth, body: "down=700ms")
            #expect(r.status == 202 && r.body.contains("\"down_s\":0.7"))
            #expect(try await device.next() == .disconnected)
            #expect(await eventually { !backend.stats.listening })
            let down = try await TestConnection.http(port: control, path: "/healthz")
            #expect(down.status == 503, "the control port answers while the device listener is closed")
            #expect(await eventually(10) { backend.stats.listening && backend.stats.restarts == 1 }, "back after 700 ms, not the 60 s delay")
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2").close()
            let bare = try await TestConnection.http(port: control, method: "POST", path: "/admin/restart", headers: Self.auth, body: "soon")
            #expect(bare.status == 400 && bare.body.contains("expected a duration"))
        }
    }

    @Test func databaseWorkersGrowAndShrinkAtRunTime() async throws {
        try await withBackend({ $0.adminToken = "t" }) { backend, port in
            #expect(backend.databaseWorkers == 1)
            let grow = try await TestConnection.http(port: port, method: "POST", path: "/admin/db-workers", headers: Self.auth, body: "3")
            #expect(grow.status == 200 && grow.body.contains("\"db_workers\":3"))
            #expect(metricValue(backend.metricsText(), "fleetsim_backend_db_workers") == 3)
            // Three workers really run at once: three blocked jobs hold all of them.
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            #expect(await eventually { backend.core.database.activeWorkers == 3 })
            gate.release()
            let shrink = try await TestConnection.http(port: port, method: "POST", path: "/admin/db-workers", headers: Self.auth, body: "1")
            #expect(shrink.status == 200)
            #expect(backend.databaseWorkers == 1)
            for i in 0..<5 {
                try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: i), firmware: "3.7.2").close()
            }
            #expect(backend.stats.handshakes[.welcome] == 5)
            for bad in ["0", "many", ""] {
                let r = try await TestConnection.http(port: port, method: "POST", path: "/admin/db-workers", headers: Self.auth, body: bad)
                #expect(r.status == 400, "\(bad)")
            }
        }
    }

    @Test func theQueueWaitShowsHowLongTheOldestJobHasWaited() async throws {
        try await withBackend { backend, port in
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            let (c, _) = try await TestConnection.upgrade(port: port)
            let device = try #require(c)
            try await device.send(text: hello(DeviceRegistry.seededUUID(index: 1), "3.7.2"))
            #expect(await eventually { backend.stats.databaseQueueLength == 1 })
            try await Task.sleep(nanoseconds: 300_000_000)
            let waiting = backend.metricsText()
            #expect((metricValue(waiting, "fleetsim_backend_db_wait_seconds") ?? 0) >= 0.25)
            gate.release()
            #expect(try await device.next() == .text("{\"type\":\"welcome\"}"))
            let after = backend.metricsText()
            #expect(metricValue(after, "fleetsim_backend_db_wait_seconds") == 0)
            #expect((metricValue(after, "fleetsim_backend_db_wait_seconds_total") ?? 0) >= 0.25)
            #expect((metricValue(after, "fleetsim_backend_db_wait_seconds_count") ?? 0) >= 2) // the gate's job and the hello
            device.close()
        }
    }

    @Test func metricsAreValidPrometheusText() async throws {
        try await withBackend { backend, _ in
            var typed: [String: String] = [:]
            var helped = Set<String>()
            for line in backend.metricsText().split(separator: "\n") {
                if line.hasPrefix("# HELP ") {
                    helped.insert(String(line.dropFirst(7).split(separator: " ")[0]))
                } else if line.hasPrefix("# TYPE ") {
                    let parts = line.dropFirst(7).split(separator: " ")
                    #expect(parts.count == 2 && ["counter", "gauge", "histogram"].contains(String(parts[1])), "\(line)")
                    #expect(typed[String(parts[0])] == nil, "one TYPE per family: \(line)")
                    typed[String(parts[0])] = String(parts[1])
                } else {
                    let name = String(line.prefix { $0 != "{" && $0 != " " })
                    let family = typed[name] != nil ? name
                        : ["_bucket", "_sum", "_count"].compactMap { s in name.hasSuffix(s) ? String(name.dropLast(s.count)) : nil }
                            .first { typed[$0] == "histogram" } ?? name
                    #expect(typed[family] != nil, "sample without a TYPE: \(line)")
                    #expect(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }, "\(line)")
                    #expect(Double(line.split(separator: " ").last ?? "") != nil, "value: \(line)")
                }
            }
            #expect(typed["fleetsim_backend_db_wait_seconds"] == "gauge")
            #expect(typed["fleetsim_backend_db_wait_seconds_total"] == "counter")
            #expect(Set(typed.keys) == helped)
        }
    }

    @Test func admissionTakesARetryAfterThroughAdminAndGivesItInThe503() async throws {
        try await withBackend({ $0.adminToken = "t" }) { backend, port in
            let r = try await TestConnection.http(port: port, method: "POST", path: "/admin/admission", headers: Self.auth,
                                                  body: "rate=1 burst=1 retry-after=45s")
            #expect(r.status == 200 && r.body.contains("retry-after=45s"))
            #expect(backend.admissionLimits.retryAfter == 45 * Time.second)
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2").close()
            let (refused, response) = try await TestConnection.upgrade(port: port)
            #expect(refused == nil && response.status == 503)
            #expect(response.headers["retry-after"] == "45")
        }
    }
}
