import DeviceModel
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import ReferenceBackend

@Suite(.tags(.network)) struct ControlTests {
    @Test func blockedFirmwareIsRejectedBeforeAnyDatabaseWork() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        let unknown = "0badc0de-0000-4000-8000-00000000b10c"
        try await withBackend({ $0.databasePath = path; $0.blockedFirmware = [try! FirmwareRange(parsing: ">=3.8.0-b3")] }) { backend, port in
            let (c, _) = try await TestConnection.upgrade(port: port)
            try await c!.send(text: hello(unknown, "3.8.0-b3"))
            #expect(try await c!.closeCode() == DeviceModel.DeviceCloseCode.firmwareBlocked)
            #expect(backend.stats.queryCounts.isEmpty, "a blocked device must cost the database nothing")
            #expect(backend.stats.handshakes[.blocked] == 1)
            // 3.8.0-b2 is below the range and gets in.
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 0), firmware: "3.8.0-b2").close()
        }
        #expect(try DeviceRegistry.rowCount(path: path) == 2_000, "the blocked device was not registered")
    }

    @Test func firmwareNamedAtUpgradeIsRefusedWith403() async throws {
        try await withBackend({ $0.blockedFirmware = [try! FirmwareRange(parsing: ">=3.8.0-b3")] }) { backend, port in
            let (c1, r1) = try await TestConnection.upgrade(port: port, headers: ["X-Firmware": "3.8.0-b4"])
            #expect(c1 == nil && r1.status == 403)
            let (c2, r2) = try await TestConnection.upgrade(port: port, path: "/device?firmware=3.9.0")
            #expect(c2 == nil && r2.status == 403)
            let (c3, r3) = try await TestConnection.upgrade(port: port, headers: ["X-Firmware": "3.7.2"])
            #expect(r3.status == 101)
            c3?.close()
            #expect(backend.stats.rejects[.blockedFirmware] == 2)
            #expect(backend.stats.queryCounts.isEmpty)
        }
    }

    @Test func adminBlocksAndUnblocksAtRuntimeWithTheToken() async throws {
        try await withBackend({ $0.adminToken = "s3cret" }) { backend, port in
            let auth = ["Authorization": "Bearer s3cret"]
            #expect(try await TestConnection.http(port: port, method: "POST", path: "/admin/block", body: ">=3.8.0-b3").status == 401)
            #expect(try await TestConnection.http(port: port, method: "POST", path: "/admin/block",
                                                  headers: ["Authorization": "Bearer wrong"], body: ">=3.8.0-b3").status == 401)
            #expect(backend.stats.rejects[.unauthorized] == 2)
            #expect(backend.blockedFirmware.isEmpty)

            let blocked = try await TestConnection.http(port: port, method: "POST", path: "/admin/block", headers: auth, body: ">=3.8.0-b3")
            #expect(blocked.status == 200)
            #expect(blocked.body.contains("\">=3.8.0-b3\""))
            let (c, _) = try await TestConnection.upgrade(port: port)
            try await c!.send(text: hello(DeviceRegistry.seededUUID(index: 1), "3.8.0-b3"))
            #expect(try await c!.closeCode() == DeviceModel.DeviceCloseCode.firmwareBlocked)

            let bad = try await TestConnection.http(port: port, method: "POST", path: "/admin/block", headers: auth, body: ">=banana")
            #expect(bad.status == 400)
            #expect(bad.body.hasPrefix("block: "))

            #expect(try await TestConnection.http(port: port, method: "POST", path: "/admin/unblock", headers: auth, body: ">=3.8.0-b3").status == 200)
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.8.0-b3").close()

            let lookup = try await TestConnection.http(port: port, method: "POST", path: "/admin/lookup", headers: auth, body: "scan:>=3.8.0-b3")
            #expect(lookup.status == 200)
            #expect(backend.lookupPolicy == (try LookupPolicy(parsing: "scan:>=3.8.0-b3")))
            let admission = try await TestConnection.http(port: port, method: "POST", path: "/admin/admission", headers: auth, body: "rate=5 burst=2")
            #expect(admission.status == 200)
            #expect(backend.admissionLimits.connectRate == 5)
            let state = try await TestConnection.http(port: port, path: "/admin", headers: auth)
            #expect(state.status == 200 && state.body.contains("\"lookup\":\"scan:>=3.8.0-b3\""))
            #expect(try await TestConnection.http(port: port, path: "/admin/nothing", headers: auth).status == 404)
        }
    }

    @Test func maxPendingHandshakesTurnsAwayWith1013And503() async throws {
        try await withBackend({ $0.admission = AdmissionPolicy(maxPending: 1) }) { backend, port in
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            let (first, _) = try await TestConnection.upgrade(port: port)
            // Upgraded before the limit is reached, refused at hello below:
            let (second, _) = try await TestConnection.upgrade(port: port)
            try #require(first != nil && second != nil)
            try await first!.send(text: hello(DeviceRegistry.seededUUID(index: 1), "3.7.2"))
            #expect(await eventually { backend.stats.pendingHandshakes == 1 })
            let (third, refused) = try await TestConnection.upgrade(port: port)
            #expect(third == nil && refused.status == 503 && refused.headers["retry-after"] == "1")
            try await second!.send(text: hello(DeviceRegistry.seededUUID(index: 2), "3.7.2"))
            #expect(try await second!.closeCode() == DeviceModel.DeviceCloseCode.tryAgainLater)
            gate.release()
            #expect(try await first!.next() == .text("{\"type\":\"welcome\"}"))
            #expect(backend.stats.rejects[.admissionPending] == 2)
            first!.close()
        }
    }

    @Test func abandonedHandshakesStillCostTheDatabase() async throws {
        try await withBackend { backend, port in
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            for i in 0..<3 {
                let (c, _) = try await TestConnection.upgrade(port: port)
                try await c!.send(text: hello(DeviceRegistry.seededUUID(index: i), "3.7.2"))
                #expect(await eventually { backend.stats.pendingHandshakes == i + 1 })
                c!.close()   // the device gives up: its handshake timeout fired
            }
            #expect(await eventually { backend.stats.openConnections == 0 })
            #expect(backend.stats.databaseQueueLength == 3)
            gate.release()
            #expect(await eventually { backend.stats.handshakes[.abandoned] == 3 })
            #expect(backend.stats.queryCounts["indexed"] == 3, "the work ran for nobody")
            #expect(backend.stats.pendingHandshakes == 0)
        }
    }

    @Test func aPendingHandshakeHoldsItsStatedMemoryUntilItsQueryHasRun() async throws {
        try await withBackend({ $0.pendingMemory = 8 << 20 }) { backend, port in
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            var devices: [TestConnection] = []
            for i in 0..<3 {
                let (c, _) = try await TestConnection.upgrade(port: port)
                try await c!.send(text: hello(DeviceRegistry.seededUUID(index: i), "3.7.2"))
                devices.append(c!)
            }
            #expect(await eventually { backend.stats.pendingHandshakes == 3 })
            let metrics = try await TestConnection.http(port: port, path: "/metrics").body
            #expect(metricValue(metrics, "fleetsim_backend_handshakes_pending_memory_bytes") == Double(24 << 20))
            devices[0].close()   // a device that gives up does not give the memory back: its query still waits
            #expect(backend.core.pendingMemory.heldBytes == 24 << 20)
            gate.release()
            for d in devices.dropFirst() { #expect(try await d.next() == .text("{\"type\":\"welcome\"}")) }
            #expect(await eventually { backend.core.pendingMemory.heldBytes == 0 })
        }
    }

    @Test func pendingHandshakesTripTheMemoryGuardWithTheirStatedMemory() async throws {
        // Real memory stays under the limit; three pending handshakes of 4 MiB each take it over.
        try await withBackend({
            $0.pendingMemory = 4 << 20
            $0.memoryLimit = 10 << 20
            $0.memoryReader = { 1 << 20 }
            $0.memoryCheckInterval = .milliseconds(20)
        }) { backend, port in
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            var devices: [TestConnection] = []
            for i in 0..<2 {
                let (c, _) = try await TestConnection.upgrade(port: port)
                try await c!.send(text: hello(DeviceRegistry.seededUUID(index: i), "3.7.2"))
                devices.append(c!)
            }
            #expect(await eventually { backend.stats.pendingHandshakes == 2 })
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(backend.stats.crashes == 0, "1 MiB real + 8 MiB pending is under 10 MiB")
            let (c, _) = try await TestConnection.upgrade(port: port)
            try await c!.send(text: hello(DeviceRegistry.seededUUID(index: 2), "3.7.2"))
            devices.append(c!)
            #expect(await eventually { backend.stats.crashes == 1 }, "1 MiB real + 12 MiB pending is over 10 MiB")
            #expect(backend.core.pendingMemory.heldBytes == 0, "a crash gives the pending memory back")
        }
    }

    @Test func aLookupThatWaitsPastTheQueueTimeoutNeverRunsAndTheDeviceGets1011() async throws {
        try await withBackend({ $0.queueTimeout = .milliseconds(200); $0.pendingMemory = 1 << 20 }) { backend, port in
            let gate = DatabaseGate(backend)
            defer { gate.release() }
            let (c, _) = try await TestConnection.upgrade(port: port)
            try await c!.send(text: hello(DeviceRegistry.seededUUID(index: 1), "3.7.2"))
            #expect(await eventually { backend.stats.pendingHandshakes == 1 })
            try await Task.sleep(nanoseconds: 400_000_000)
            gate.release()
            #expect(try await c!.closeCode() == DeviceModel.DeviceCloseCode.internalError)
            #expect(backend.stats.handshakes[.queueTimeout] == 1)
            #expect(backend.stats.queryCounts["indexed"] == nil, "the query never reached the database")
            #expect(backend.stats.pendingHandshakes == 0)
            #expect(backend.core.pendingMemory.heldBytes == 0)
            // Without a wait, the next lookup runs.
            let d = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 2), firmware: "3.7.2")
            d.close()
            #expect(backend.stats.handshakes[.welcome] == 1)
        }
    }

    @Test func memoryGuardDropsEveryoneCountsACrashAndReopens() async throws {
        let memory = NIOLockedValueBox(100)
        try await withBackend({
            $0.memoryLimit = 1_000
            $0.memoryReader = { memory.withLockedValue { $0 } }
            $0.memoryCheckInterval = .milliseconds(20)
            $0.restartDelay = .milliseconds(1_500)   // long enough to observe the closed listener on a loaded CI machine
        }) { backend, port in
            let devices = try await (0..<3).asyncMap {
                try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: $0), firmware: "3.7.2")
            }
            memory.withLockedValue { $0 = 5_000 }
            for d in devices { #expect(try await d.next() == .disconnected, "a crash drops connections without a close frame") }
            #expect(backend.stats.crashes == 1)
            #expect(!backend.stats.listening)
            let refused = try? await TestConnection.open(port: port)
            #expect(refused == nil, "the listener is closed while the backend 'restarts'")
            memory.withLockedValue { $0 = 100 }
            #expect(await eventually { backend.stats.listening })
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 9), firmware: "3.7.2").close()
            #expect(backend.stats.crashes == 1)
            #expect(backend.stats.restarts == 1)
            let text = try await TestConnection.http(port: port, path: "/metrics").body
            #expect(metricValue(text, "fleetsim_backend_crashes_total") == 1)
        }
    }

    @Test func adminRestartDropsConnectionsAndReopensWithoutACrash() async throws {
        try await withBackend({ $0.adminToken = "t"; $0.restartDelay = .milliseconds(100) }) { backend, port in
            let d = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2")
            let r = try await TestConnection.http(port: port, method: "POST", path: "/admin/restart", headers: ["Authorization": "Bearer t"])
            #expect(r.status == 202)
            #expect(try await d.next() == .disconnected)
            #expect(await eventually { backend.stats.restarts == 1 && backend.stats.listening })
            try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.7.2").close()
            #expect(backend.stats.crashes == 0)
        }
    }

    @Test func twoBackendsShareOnePortAndOneDatabase() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try await withBackend({ $0.databasePath = path; $0.reusePort = true }) { first, port in
            var config = first.configuration
            config.port = port
            let second = ReferenceBackend(configuration: config)
            let (_, secondPort) = try await second.start()
            #expect(secondPort == port)
            #expect(second.registry?.seeded == false, "the second process reuses the seeded file")
            // The kernel spreads connections over both listeners; all of them get served.
            for i in 0..<40 {
                try await TestConnection.device(port: port, uuid: "0badc0de-0000-4000-8000-0000000000\(String(format: "%02d", i))", firmware: "3.7.2").close()
            }
            let registered = (first.stats.handshakes[.registered] ?? 0) + (second.stats.handshakes[.registered] ?? 0)
            #expect(registered == 40)
            #expect(first.stats.handshakes[.registered] ?? 0 > 0 && second.stats.handshakes[.registered] ?? 0 > 0)
            try await second.shutdown()
        }
        #expect(try DeviceRegistry.rowCount(path: path) == 2_040)
    }
}

@Suite(.tags(.network)) struct SharedControlTests {
    @Test func anAdminChangeInOneProcessReachesTheOthersOnTheSameFile() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try await withBackend({
            $0.databasePath = path; $0.reusePort = true; $0.sharesControls = true
            $0.adminToken = "t"; $0.controlsPollInterval = .milliseconds(20)
            $0.lookup = try! LookupPolicy(parsing: "scan:>=3.8.0-b3")
        }) { first, port in
            var config = first.configuration
            config.port = port
            config.publishesControlsAtStart = false
            config.lookup = .indexed   // the first process's settings win
            let second = ReferenceBackend(configuration: config)
            try await second.start()
            #expect(second.lookupPolicy == (try LookupPolicy(parsing: "scan:>=3.8.0-b3")))
            let r = first.core.admin(method: .POST, path: "/admin/block", authorization: "Bearer t", body: ">=3.8.0-b3")
            #expect(r.status == .ok)
            #expect(await eventually { second.blockedFirmware.map(\.text) == [">=3.8.0-b3"] })
            _ = second.core.admin(method: .POST, path: "/admin/admission", authorization: "Bearer t", body: "max-pending=7")
            #expect(await eventually { first.admissionLimits.maxPending == 7 })
            _ = first.core.admin(method: .POST, path: "/admin/fault", authorization: "Bearer t", body: "db-errors fraction=0.5")
            #expect(await eventually { second.core.faults.dbErrorFraction == 0.5 })
            #expect(first.blockedFirmware.map(\.text) == [">=3.8.0-b3"], "a change to one control leaves the others alone")
            _ = second.core.admin(method: .POST, path: "/admin/unblock", authorization: "Bearer t", body: "all")
            #expect(await eventually { first.blockedFirmware.isEmpty })
            try await second.shutdown()
        }
    }
}

@Suite(.tags(.network)) struct StartupTests {
    @Test func aTakenPortFailsStartCleanly() async throws {
        try await withBackend { _, port in
            var config = ReferenceBackendConfiguration()
            config.rows = 10
            config.port = port   // taken, and without SO_REUSEPORT
            config.databaseWorkers = 1
            config.eventLoopThreads = 1
            let second = ReferenceBackend(configuration: config)
            await #expect(throws: (any Error).self) { try await second.start() }
            try await second.shutdown()   // a no-op, not a hang
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
