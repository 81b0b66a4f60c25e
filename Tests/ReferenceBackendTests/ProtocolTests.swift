import DeviceModel
import Foundation
import NIOCore
import Testing
@testable import ReferenceBackend

@Suite(.tags(.network)) struct ProtocolTests {
    @Test func knownDeviceIsWelcomedAfterAnIndexedLookup() async throws {
        try await withBackend { backend, port in
            let device = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 42), firmware: "3.7.2")
            defer { device.close() }
            let stats = backend.stats
            #expect(stats.handshakes[.welcome] == 1)
            #expect(stats.queryCounts["indexed"] == 1)
            #expect(stats.queryCounts["scan"] == nil)
            #expect(stats.openConnections == 1)
        }
    }

    @Test func unknownDeviceIsRegisteredThenWelcomed() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        let uuid = "0badc0de-0000-4000-8000-000000000001"
        try await withBackend({ $0.databasePath = path }) { backend, port in
            let device = try await TestConnection.device(port: port, uuid: uuid.uppercased(), firmware: "3.8.0-b4")
            device.close()
            #expect(backend.stats.handshakes[.registered] == 1)
            #expect(backend.stats.queryCounts["register"] == 1)
        }
        #expect(try DeviceRegistry.rowCount(path: path) == 2_001)
        #expect(try DeviceRegistry.lastSeen(path: path, uuid: uuid) != nil)
    }

    @Test func firmwareInTheScanRangeGetsAFullScan() async throws {
        try await withBackend({ $0.lookup = try! LookupPolicy(parsing: "scan:>=3.8.0-b3") }) { backend, port in
            let old = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 1), firmware: "3.8.0-b2")
            let new = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 2), firmware: "3.8.0-b3")
            old.close(); new.close()
            #expect(backend.stats.queryCounts["indexed"] == 1)
            #expect(backend.stats.queryCounts["scan"] == 1)
            // Changed at runtime: now everyone is indexed.
            backend.lookupPolicy = .indexed
            let again = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 3), firmware: "3.8.0-b3")
            again.close()
            #expect(backend.stats.queryCounts["indexed"] == 2)
            #expect(backend.stats.queryCounts["scan"] == 1)
        }
    }

    @Test func heartbeatsAreAcknowledgedWithTheirSequenceNumber() async throws {
        try await withBackend { backend, port in
            let device = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 5), firmware: "3.7.2")
            defer { device.close() }
            for seq in 1...3 {
                try await device.send(text: "{\"type\":\"heartbeat\",\"seq\":\(seq)}")
                #expect(try await device.next() == .text("{\"type\":\"ack\",\"seq\":\(seq)}"))
            }
            try await device.send(opcode: .ping, bytes: Array("hi".utf8))
            #expect(try await device.next() == .pong("hi"))
            #expect(backend.stats.heartbeats == 3)
        }
    }

    @Test func cleanShutdownWritesEveryPendingLastSeenUpdate() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        let uuids = (100..<110).map { DeviceRegistry.seededUUID(index: $0) }
        let before = Int64(Date().timeIntervalSince1970)
        // A flush interval longer than the test: only the shutdown flush can write these.
        try await withBackend({ $0.databasePath = path; $0.lastSeenFlushInterval = .seconds(3600) }) { _, port in
            for uuid in uuids {
                let d = try await TestConnection.device(port: port, uuid: uuid, firmware: "3.7.2")
                try await d.send(text: "{\"type\":\"heartbeat\",\"seq\":1}")
                #expect(try await d.next() == .text("{\"type\":\"ack\",\"seq\":1}"))
                // stays open: shutdown closes it
            }
            for uuid in uuids { #expect(try DeviceRegistry.lastSeen(path: path, uuid: uuid) == nil) }
        }
        for uuid in uuids {
            let seen = try DeviceRegistry.lastSeen(path: path, uuid: uuid)
            #expect(seen != nil && seen! >= before)
        }
    }

    @Test func lastSeenIsFlushedPeriodicallyWhileRunning() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        let uuid = DeviceRegistry.seededUUID(index: 77)
        try await withBackend({ $0.databasePath = path; $0.lastSeenFlushInterval = .milliseconds(50) }) { _, port in
            let d = try await TestConnection.device(port: port, uuid: uuid, firmware: "3.7.2")
            defer { d.close() }
            try await d.send(text: "{\"type\":\"heartbeat\",\"seq\":9}")
            _ = try await d.next()
            #expect(try await eventually { try DeviceRegistry.lastSeen(path: path, uuid: uuid) != nil })
        }
    }

    @Test func shutdownSaysGoingAwayToOpenDevices() async throws {
        var device: TestConnection?
        try await withBackend { _, port in
            device = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 9), firmware: "3.7.2")
        }
        #expect(try await device!.closeCode() == DeviceCloseCode.goingAway)
    }
}
