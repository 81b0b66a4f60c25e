import DeviceModel
import Foundation
import Testing
@testable import ReferenceBackend

/// Seeding from a fleet: the roster's devices first, then filler rows no fleet uses.
@Suite(.tags(.network)) struct RosterTests {
    static let roster: [DeviceRoster.Entry] = try! DeviceRoster(csv: """
        uuid,firmware
        0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89,3.7.2
        1c7a4f3e-7d2e-4d8b-8b9f-3a5e6d7c8b90,3.8.0-b3
        """, file: "fleet.csv").entries

    @Test func aRosterDeviceIsFoundByAnIndexedLookupNotRegistered() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try await withBackend(rows: 500, { $0.roster = Self.roster; $0.databasePath = path }) { backend, port in
            #expect(backend.registry?.rows == 500)
            let device = try await TestConnection.device(port: port, uuid: "1C7A4F3E-7D2E-4D8B-8B9F-3A5E6D7C8B90", firmware: "3.8.0-b3")
            defer { device.close() }
            #expect(backend.stats.handshakes[.welcome] == 1)
            #expect(backend.stats.handshakes[.registered] == nil)
            #expect(backend.stats.queryCounts["indexed"] == 1)
            #expect(backend.stats.queryCounts["register"] == nil)
        }
        #expect(try DeviceRegistry.rowCount(path: path) == 500)
    }

    @Test func rosterRowsComeFirstAndFillerUUIDsAreNotTheFleetsOwn() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try DeviceRegistry.prepare(path: path, rows: 100, seed: 7, roster: Self.roster)
        let reader = try RegistryReader(path: path)
        #expect(try reader.lookup(uuid: Self.roster[0].uuid.description, kind: .indexed) == 1)
        #expect(try reader.lookup(uuid: Self.roster[1].uuid.description, kind: .indexed) == 2)
        // Filler: derived from seed ^ fillerSeedMask, never from the fleet's seed.
        #expect(try reader.lookup(uuid: DeviceUUID(seed: 7 ^ DeviceRegistry.fillerSeedMask, index: 0).description, kind: .indexed) == 3)
        #expect(try reader.lookup(uuid: DeviceUUID(seed: 7, index: 0).description, kind: .indexed) == nil)
        #expect(try DeviceRegistry.rowCount(path: path) == 100)
    }

    @Test func aRosterLargerThanRowsIsSeededWhole() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        let opened = try DeviceRegistry.prepare(path: path, rows: 1, roster: Self.roster)
        #expect(opened.rows == 2)
        #expect(try DeviceRegistry.rowCount(path: path) == 2)
    }

    @Test func withoutARosterTheRegistryAndAFleetDeriveTheSameUUIDs() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try DeviceRegistry.prepare(path: path, rows: 50)
        let reader = try RegistryReader(path: path)
        for i in [0, 17, 49] {
            let fleet = DeviceUUID(seed: DeviceRegistry.defaultSeed, index: UInt64(i)).description
            #expect(DeviceRegistry.seededUUID(index: i) == fleet)
            #expect(try reader.lookup(uuid: fleet, kind: .indexed) == Int64(i + 1))
        }
    }
}
