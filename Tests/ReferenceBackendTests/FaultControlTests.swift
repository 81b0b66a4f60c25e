import DeviceModel
import Foundation
import NIOCore
import Testing
@testable import ReferenceBackend

/// `/admin/fault`: the live form of the scenario's `http-errors`, `latency` and `db-errors`, each
/// on until turned off, counted in `/metrics`.
@Suite(.tags(.network)) struct FaultControlTests {
    static let auth = ["Authorization": "Bearer t"]

    static func fault(_ port: Int, _ body: String) async throws -> HTTPResult {
        try await TestConnection.http(port: port, method: "POST", path: "/admin/fault", headers: auth, body: body)
    }

    @Test func httpErrorsAnswerUpgradesWithTheStatusAndRetryAfterUntilTurnedOff() async throws {
        try await withBackend({ $0.adminToken = "t" }) { backend, port in
            let on = try await Self.fault(port, "http-errors fraction=100% status=503 retry-after=30s")
            #expect(on.status == 200 && on.body.contains("http-errors fraction=1 status=503 retry-after=30s"), "\(on.body)")
            let (c1, r1) = try await TestConnection.upgrade(port: port)
            #expect(c1 == nil && r1.status == 503 && r1.headers["retry-after"] == "30")
            _ = try await Self.fault(port, "http-errors fraction=1 status=500")
            let (c2, r2) = try await TestConnection.upgrade(port: port)
            #expect(c2 == nil && r2.status == 500 && r2.headers["retry-after"] == nil)
            #expect(backend.stats.rejects[.faultHTTPError] == 2)
            let metrics = backend.metricsText()
            #expect(metrics.contains("fleetsim_backend_rejects_total{cause=\"fault_http_error\"} 2"))
            #expect(metrics.contains("fleetsim_backend_fault_active{kind=\"http-errors\"} 1"))
            #expect(backend.stats.queryCounts.isEmpty, "a refused upgrade costs the database nothing")

            #expect(try await Self.fault(port, "http-errors off").status == 200)
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2").close()
            #expect(backend.core.faults.isOff)
        }
    }

    @Test func aFractionOfUpgradesIsRefused() async throws {
        try await withBackend({ $0.adminToken = "t" }) { backend, port in
            _ = try await Self.fault(port, "http-errors fraction=0.5")
            var statuses: [Int] = []
            for _ in 0..<40 {
                let (c, r) = try await TestConnection.upgrade(port: port)
                c?.close()
                statuses.append(r.status)
            }
            #expect(Set(statuses) == [101, 503], "\(statuses)")
            #expect(backend.stats.rejects[.faultHTTPError] == UInt64(statuses.filter { $0 == 503 }.count))
        }
    }

    @Test func latencyDelaysTheWelcomeAndTheAckOnTheLoopsTimer() async throws {
        try await withBackend({ $0.adminToken = "t"; $0.eventLoopThreads = 1 }) { backend, port in
            #expect(try await Self.fault(port, "latency add=400ms").status == 200)
            let (c, _) = try await TestConnection.upgrade(port: port)
            let device = try #require(c)
            let sent = Date()
            try await device.send(text: hello(DeviceRegistry.seededUUID(index: 1), "3.7.2"))
            // The lookup has run; the handshake stays pending until the delayed answer.
            #expect(await eventually { backend.stats.queryCounts["indexed"] == 1 })
            #expect(backend.stats.pendingHandshakes == 1)
            // The one event loop is not blocked meanwhile: it answers at once.
            let probe = Date()
            #expect(try await TestConnection.http(port: port, path: "/healthz").status == 200)
            #expect(Date().timeIntervalSince(probe) < 0.3)
            #expect(try await device.next() == .text("{\"type\":\"welcome\"}"))
            #expect(Date().timeIntervalSince(sent) >= 0.4)
            #expect(backend.stats.pendingHandshakes == 0)
            let beat = Date()
            try await device.send(text: "{\"type\":\"heartbeat\",\"seq\":1}")
            #expect(try await device.next() == .text("{\"type\":\"ack\",\"seq\":1}"))
            #expect(Date().timeIntervalSince(beat) >= 0.4)
            #expect(metricValue(backend.metricsText(), "fleetsim_backend_fault_delayed_total") == 2)
            _ = try await Self.fault(port, "latency off")
            let quick = Date()
            try await device.send(text: "{\"type\":\"heartbeat\",\"seq\":2}")
            #expect(try await device.next() == .text("{\"type\":\"ack\",\"seq\":2}"))
            #expect(Date().timeIntervalSince(quick) < 0.3)
            device.close()
        }
    }

    @Test func databaseErrorsCloseLookupsWith1011AndLeaveHeartbeatsUnacknowledged() async throws {
        try await withBackend({ $0.adminToken = "t" }) { backend, port in
            let online = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2")
            #expect(try await Self.fault(port, "db-errors fraction=1").status == 200)
            try await online.send(text: "{\"type\":\"heartbeat\",\"seq\":1}")
            await #expect(throws: TestTimeout.self) { try await online.next(timeout: .milliseconds(300)) }
            let (c, _) = try await TestConnection.upgrade(port: port)
            try await c!.send(text: hello(DeviceRegistry.seededUUID(index: 2), "3.7.2"))
            #expect(try await c!.closeCode() == DeviceModel.DeviceCloseCode.internalError)
            #expect(backend.stats.queryCounts["indexed"] == 2, "the failed lookup still ran")
            #expect(backend.stats.rejects[.faultDatabaseError] == 2)
            #expect(backend.stats.handshakes[.failed] == 1)
            _ = try await Self.fault(port, "db-errors off")
            try await online.send(text: "{\"type\":\"heartbeat\",\"seq\":2}")
            #expect(try await online.next() == .text("{\"type\":\"ack\",\"seq\":2}"))
            online.close()
        }
    }

    @Test func aBadFaultIsRefusedAndChangesNothing() async throws {
        try await withBackend({ $0.adminToken = "t" }) { backend, port in
            _ = try await Self.fault(port, "latency add=1s")
            for body in ["http-errors", "http-errors fraction=2", "http-errors fraction=0.5 status=200", "latency add=soon",
                         "db-errors fraction=0.5 extra=1", "outage for=1s", "", "latency off\nbanana"] {
                let r = try await Self.fault(port, body)
                #expect(r.status == 400 && r.body.hasPrefix("fault: expected"), "\(body): \(r.status) \(r.body)")
            }
            #expect(backend.core.faults == FaultInjection(latency: Time.second))
            #expect(try await TestConnection.http(port: port, path: "/admin/fault", headers: Self.auth).status == 405)
            let state = try await TestConnection.http(port: port, path: "/admin", headers: Self.auth)
            #expect(state.body.contains("\"faults\":[\"http-errors off\",\"latency add=1s\",\"db-errors off\"]"), "\(state.body)")
            _ = try await Self.fault(port, "off")
            #expect(backend.core.faults.isOff)
        }
    }

    @Test func theTextFormReadsBackToTheSameFaults() throws {
        var f = FaultInjection()
        try f.apply(parsing: "http-errors fraction=30% status=502 retry-after=1m30s\ndb-errors fraction=0.25")
        #expect(f.httpErrors == FaultInjection.HTTPErrors(fraction: 0.3, status: 502, retryAfter: 90 * Time.second))
        #expect(f.dbErrorFraction == 0.25 && f.latency == nil)
        var g = FaultInjection()
        try g.apply(parsing: f.description)
        #expect(g == f)
        try g.apply(parsing: "db-errors fraction=0")
        #expect(g.dbErrorFraction == nil, "a fraction of 0 is off")
    }
}
