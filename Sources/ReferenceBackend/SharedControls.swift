import DeviceModel
import Foundation

/// Runtime controls (block list, lookup strategy, admission limits, injected faults) shared by every process that
/// serves one port and one registry file (`--processes N`): an admin request reaches one process,
/// which applies it and writes it to the `backend_controls` table; the others read the table every
/// `controlsPollInterval` and apply what changed.
enum SharedControls {
    static let schema = """
        CREATE TABLE IF NOT EXISTS backend_controls(
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            version INTEGER NOT NULL)
        """

    enum Name: String, CaseIterable { case block, lookup, admission, faults }

    /// The current value of each control, as text that `apply` reads back.
    static func encode(_ core: BackendCore) -> [Name: String] {
        [.block: core.blockList.current.map(\.text).joined(separator: "\n"),
         .lookup: core.lookupPolicy.description,
         .admission: core.admissionLimits.description,
         .faults: core.faults.description]
    }

    /// Applies one control another process published; a value this process cannot read is logged
    /// and skipped (the control keeps its current setting).
    static func apply(_ name: Name, _ value: String, to core: BackendCore) {
        do {
            switch name {
            case .block:
                let ranges = try value.split(separator: "\n").map { try FirmwareRange(parsing: String($0)) }
                core.blockList.replace(with: ranges)
            case .lookup:
                core.lookupPolicy = try LookupPolicy(parsing: value)
            case .admission:
                core.admissionLimits = try AdmissionPolicy(parsing: value)
            case .faults:
                var faults = FaultInjection()
                try faults.apply(parsing: value)
                core.faults = faults
            }
        } catch {
            core.logger.warning("ignored a shared control another process published", metadata: ["control": "\(name)", "error": "\(error)"])
        }
    }

    /// Writes controls (on a database worker); each write gets a version above every earlier one.
    static func publish(_ values: [Name: String], connection: RegistryConnection) throws {
        try connection.db.transaction {
            for (name, value) in values {
                let stmt = try connection.db.prepare("""
                    INSERT INTO backend_controls(name, value, version)
                    VALUES (?1, ?2, (SELECT coalesce(max(version), 0) + 1 FROM backend_controls))
                    ON CONFLICT(name) DO UPDATE SET value = excluded.value, version = excluded.version
                    """)
                stmt.bind(1, name.rawValue)
                stmt.bind(2, value)
                _ = try stmt.step()
            }
        }
    }

    /// Reads controls newer than `since`; returns them with the highest version seen.
    static func changes(since: Int64, connection: RegistryConnection) throws -> (values: [(Name, String)], version: Int64) {
        let stmt = try connection.db.prepare("SELECT name, value, version FROM backend_controls WHERE version > ?1 ORDER BY version")
        stmt.bind(Int32(1), since)
        var out: [(Name, String)] = []
        var version = since
        while try stmt.step() {
            if let name = Name(rawValue: stmt.text(0) ?? "") { out.append((name, stmt.text(1) ?? "")) }
            version = max(version, stmt.int64(2))
        }
        return (out, version)
    }
}
