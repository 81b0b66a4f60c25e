import Foundation
import Testing
@testable import ReferenceBackend

@Suite struct RegistryTests {
    @Test func indexedLookupUsesTheUUIDIndex() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try DeviceRegistry.prepare(path: path, rows: 2_000)
        let plan = try DeviceRegistry.queryPlan(path: path, kind: .indexed)
        #expect(plan.contains("SEARCH devices USING INDEX devices_uuid"), "plan: \(plan)")
    }

    @Test func scanLookupReadsEveryRow() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try DeviceRegistry.prepare(path: path, rows: 2_000)
        let plan = try DeviceRegistry.queryPlan(path: path, kind: .scan)
        #expect(plan.hasPrefix("SCAN devices"), "plan: \(plan)")
        #expect(!plan.contains("INDEX"), "a scan that uses an index is not the 2020 mistake: \(plan)")
    }

    @Test func seedingCreatesTheRowsAndReopeningReusesThem() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        let first = try DeviceRegistry.prepare(path: path, rows: 5_000)
        #expect(first == DeviceRegistry.OpenResult(rows: 5_000, seeded: true, seedSeconds: first.seedSeconds))
        let second = try DeviceRegistry.prepare(path: path, rows: 9_999)
        #expect(second.rows == 5_000)
        #expect(!second.seeded)
        #expect(try DeviceRegistry.rowCount(path: path) == 5_000)
        // The file is in WAL mode, so readers and the writer do not block each other.
        let db = try SQLiteConnection(path: path)
        #expect(try db.rows("PRAGMA journal_mode")[0][0] == "wal")
    }

    @Test func bothLookupsFindSeededDevicesAndMissUnknownOnes() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        try DeviceRegistry.prepare(path: path, rows: 3_000)
        let c = try RegistryConnection(path: path)
        let known = DeviceRegistry.seededUUID(index: 1_234)
        #expect(try c.lookup(uuid: known, kind: .indexed) == 1_235)
        #expect(try c.lookup(uuid: known, kind: .scan) == 1_235)
        #expect(try c.lookup(uuid: known.uppercased(), kind: .scan) == 1_235)
        #expect(try c.lookup(uuid: DeviceRegistry.seededUUID(index: 3_000), kind: .indexed) == nil)
    }

    @Test func seededUUIDsAreDistinctCanonicalAndStable() {
        let uuids = (0..<10_000).map { DeviceRegistry.seededUUID(index: $0) }
        #expect(Set(uuids).count == uuids.count)
        #expect(uuids.allSatisfy { DeviceMessage.canonicalUUID($0) == $0 })
        #expect(DeviceRegistry.seededUUID(index: 7) == DeviceRegistry.seededUUID(index: 7))
        #expect(DeviceRegistry.seededUUID(index: 7, seed: 1) != DeviceRegistry.seededUUID(index: 7))
    }
}
