import CSQLite
import DeviceModel
import Foundation

/// The device registry: a `devices` table in one SQLite file (WAL), shared by every database worker
/// and by every backend process on the machine.
///
/// Rows are realistic enough for the scan to cost what it costs in production: a UUID, a firmware
/// string, a display name, an organisation and two timestamps per device.
public enum DeviceRegistry {
    /// The seed of `seededUUID(index:)`: the live runner derives its fleet's UUIDs from the same
    /// function so that seeded devices are known to the backend.
    public static let defaultSeed: UInt64 = 2020

    /// Filler rows seeded after a roster take their UUIDs from `seed ^ fillerSeedMask`: a fleet
    /// derived from `seed` never meets one of them, so its lookups hit only its own rows.
    public static let fillerSeedMask: UInt64 = 0xF111_E500

    static let schema = """
        CREATE TABLE IF NOT EXISTS devices(
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL,
            firmware TEXT NOT NULL,
            name TEXT NOT NULL,
            org_id INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            last_seen INTEGER);
        """
    static let index = "CREATE UNIQUE INDEX IF NOT EXISTS devices_uuid ON devices(uuid)"

    /// The query behind each lookup kind. `scan` compares `lower(uuid)`, which no index covers: SQLite
    /// reads every row, as the 2020 firmware's UUID handler made the database do.
    static func lookupSQL(_ kind: LookupKind) -> String {
        switch kind {
        case .indexed: return "SELECT id, firmware, name, org_id FROM devices WHERE uuid = ?1"
        case .scan: return "SELECT id, firmware, name, org_id FROM devices WHERE lower(uuid) = lower(?1)"
        }
    }

    /// What the registry found when it opened a database file.
    public struct OpenResult: Sendable, Equatable {
        public var rows: Int
        /// True when this call created the table and seeded it; false when it reused an existing one.
        public var seeded: Bool
        public var seedSeconds: Double
    }

    /// Opens `path`, creating and seeding the `devices` table when the file has none; an existing
    /// table is reused as it is (and `roster` ignored). Switches the file to WAL.
    ///
    /// Seeding writes the roster's devices first (ids 1…k, their own UUIDs and firmware), then
    /// filler rows up to `rows` in total (none when `rows` ≤ k). Filler UUIDs are
    /// `DeviceUUID(seed: seed, index: i)`, the fleet's own derivation, without a roster, and derived
    /// from `seed ^ fillerSeedMask` with one, so that they never collide with the roster's.
    @discardableResult
    public static func prepare(path: String, rows: Int, seed: UInt64 = defaultSeed,
                               roster: [DeviceRoster.Entry]? = nil) throws -> OpenResult {
        let db = try SQLiteConnection(path: path)
        let exists = try !db.rows("SELECT name FROM sqlite_master WHERE type='table' AND name='devices'").isEmpty
        if exists {
            try db.execute("PRAGMA journal_mode=WAL")
            try db.execute(index)
            try db.execute(SharedControls.schema)
            let count = Int(try db.rows("SELECT count(*) FROM devices")[0][0]) ?? 0
            return OpenResult(rows: count, seeded: false, seedSeconds: 0)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let roster = roster ?? []
        let fillerSeed = roster.isEmpty ? seed : seed ^ fillerSeedMask
        let fillers = max(0, rows - roster.count)
        // A new file is written once, without a journal (a failed seed leaves a file to delete, no
        // harm done), and only then switched to WAL: seeding through the WAL would write every page twice.
        try db.execute("PRAGMA journal_mode=OFF")
        try db.execute("PRAGMA synchronous=OFF")
        try db.execute("PRAGMA cache_size=-262144")
        try db.transaction {
            try db.execute(schema)
            let insert = try db.prepare(
                "INSERT INTO devices(id, uuid, firmware, name, org_id, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)")
            let created: Int64 = 1_546_300_800 // 2019-01-01: the fleet predates the incident
            var uuid = [UInt8](repeating: 0, count: 36)
            let names = (0..<211).map { "Meeting room \($0)" }
            func row(id: Int, uuid device: DeviceUUID, firmware: String) throws {
                writeCanonical(device, into: &uuid)
                insert.bind(1, Int64(id))
                uuid.withUnsafeBytes { insert.bind(2, bytes: $0) }
                insert.bind(3, firmware)
                insert.bind(4, names[(id - 1) % names.count])
                insert.bind(5, Int64((id - 1) / 40))
                insert.bind(6, created + Int64((id - 1) % 31_536_000))
                _ = try insert.step()
                sqlite3_reset(insert.handle)
            }
            for (i, entry) in roster.enumerated() {
                try row(id: i + 1, uuid: entry.uuid, firmware: entry.firmware.description)
            }
            for i in 0..<fillers {
                try row(id: roster.count + i + 1, uuid: DeviceUUID(seed: fillerSeed, index: UInt64(i)), firmware: seededFirmware(index: i))
            }
            // Building the index once after the inserts is several times faster than maintaining it.
            try db.execute(index)
            try db.execute(SharedControls.schema)
        }
        try db.execute("PRAGMA synchronous=NORMAL")
        try db.execute("PRAGMA journal_mode=WAL")
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return OpenResult(rows: roster.count + fillers, seeded: true, seedSeconds: seconds)
    }

    /// The UUID of seeded device `index` (0-based) of a registry seeded without a roster: DeviceModel's
    /// `DeviceUUID(seed:index:)` in its lowercase canonical form, the fleet's own derivation, so a
    /// fleet built from the same seed is known to the registry.
    public static func seededUUID(index: Int, seed: UInt64 = defaultSeed) -> String {
        DeviceUUID(seed: seed, index: UInt64(index)).description
    }

    /// The firmware of seeded device `index`: a fleet mostly on 3.7.x with a few betas of 3.8.0, as
    /// on the day of the incident.
    public static func seededFirmware(index: Int) -> String {
        let bucket = Int(splitmix(UInt64(index) &* 7 &+ 3) % 1000)
        switch bucket {
        case 0..<80: return "3.6.4"
        case 80..<250: return "3.7.1"
        case 250..<950: return "3.7.2"
        case 950..<970: return "3.8.0-b2"
        case 970..<990: return "3.8.0-b3"
        default: return "3.8.0-b4"
        }
    }

    /// The plan SQLite chooses for a lookup kind, as printed by `EXPLAIN QUERY PLAN` (detail column).
    public static func queryPlan(path: String, kind: LookupKind) throws -> String {
        let db = try SQLiteConnection(path: path, readOnly: true)
        return try db.rows("EXPLAIN QUERY PLAN " + lookupSQL(kind), ["x"]).map { $0.last ?? "" }.joined(separator: "; ")
    }

    /// `last_seen` of a device (nil when never seen or unknown): for tests and tools.
    public static func lastSeen(path: String, uuid: String) throws -> Int64? {
        let db = try SQLiteConnection(path: path, readOnly: true)
        let rows = try db.rows("SELECT last_seen FROM devices WHERE uuid = ?1", [uuid])
        guard let v = rows.first?.first, !v.isEmpty else { return nil }
        return Int64(v)
    }

    /// Number of rows in the registry.
    public static func rowCount(path: String) throws -> Int {
        let db = try SQLiteConnection(path: path, readOnly: true)
        return Int(try db.rows("SELECT count(*) FROM devices")[0][0]) ?? 0
    }

    static func splitmix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes `uuid` in its canonical lowercase 8-4-4-4-12 form (the same text as
    /// `DeviceUUID.description`) into the first 36 bytes of `out`, without allocating a String.
    static func writeCanonical(_ uuid: DeviceUUID, into out: inout [UInt8]) {
        out.withUnsafeMutableBufferPointer { buffer in
            hex.withUnsafeBufferPointer { digits in
                var j = 0
                for n in 0..<32 {
                    if n == 8 || n == 12 || n == 16 || n == 20 { buffer[j] = UInt8(ascii: "-"); j += 1 }
                    let word = n < 16 ? uuid.high : uuid.low
                    let shift = UInt64(60 - 4 * (n % 16))
                    buffer[j] = digits[Int((word >> shift) & 0xF)]
                    j += 1
                }
            }
        }
    }
}

/// One worker's connection to the registry, with its statements prepared once.
// @unchecked: owned by one database worker thread, handed to it once when the thread starts.
final class RegistryConnection: @unchecked Sendable {
    let db: SQLiteConnection
    /// The stated-cost padding this connection's worker still owes (or, below zero, has overslept):
    /// see `CostHold`. Touched only by the worker thread that owns the connection.
    var costBalance = CostHold.Balance()
    private let lookups: [LookupKind: SQLiteStatement]
    private let insert: SQLiteStatement
    private let touchStatement: SQLiteStatement

    init(path: String) throws {
        db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA synchronous=NORMAL")
        // Map the file instead of read()ing each page (a system call per page on every lookup), and
        // keep more of it cached: what a production database server would have.
        try db.execute("PRAGMA mmap_size=1073741824")
        try db.execute("PRAGMA cache_size=-32768")
        var lookups: [LookupKind: SQLiteStatement] = [:]
        for kind in LookupKind.allCases { lookups[kind] = try db.prepare(DeviceRegistry.lookupSQL(kind)) }
        self.lookups = lookups
        insert = try db.prepare("""
            INSERT INTO devices(uuid, firmware, name, org_id, created_at, last_seen) VALUES (?1, ?2, 'New device', 0, ?3, ?3)
            ON CONFLICT(uuid) DO NOTHING
            """)
        touchStatement = try db.prepare("UPDATE devices SET last_seen = ?2 WHERE uuid = ?1")
    }

    /// The row id of the device, or nil when the registry does not know it.
    func lookup(uuid: String, kind: LookupKind) throws -> Int64? {
        let stmt = lookups[kind]!
        stmt.bind(1, uuid)
        defer { stmt.reset() }
        guard try stmt.step() else { return nil }
        let id = stmt.int64(0)
        // The query has no LIMIT: like any client reading its result, step to the end. For a scan
        // that is the rest of the table (a hit early in the table costs the same as a miss).
        while try stmt.step() {}
        return id
    }

    /// Inserts an unknown device (a second hello racing the first is harmless).
    func register(uuid: String, firmware: String, now: Int64) throws {
        insert.bind(1, uuid)
        insert.bind(2, firmware)
        insert.bind(Int32(3), now)
        defer { insert.reset() }
        _ = try insert.step()
    }

    /// Writes a batch of `last_seen` values in one transaction.
    func touch(_ batch: [(uuid: String, at: Int64)]) throws {
        try db.transaction {
            for (uuid, at) in batch {
                touchStatement.bind(1, uuid)
                touchStatement.bind(Int32(2), at)
                _ = try touchStatement.step()
                touchStatement.reset()
            }
        }
    }
}

/// A read-only handle for tools and benchmarks: one connection, lookups of either kind.
public final class RegistryReader {
    private let connection: RegistryConnection

    public init(path: String) throws { connection = try RegistryConnection(path: path) }

    /// The row id of the device, or nil when the registry does not know it.
    public func lookup(uuid: String, kind: LookupKind) throws -> Int64? {
        try connection.lookup(uuid: uuid, kind: kind)
    }
}
