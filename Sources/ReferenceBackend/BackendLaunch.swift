import Foundation
import Logging

/// One process of `fleetsim backend` as its parent starts it: the configuration, and the process's
/// place among those that share the port. `fleetsim run` builds one for its embedded backend; the
/// first of `--processes N` builds one for each of the others.
///
/// It crosses the process boundary as JSON in a file (`fleetsim backend --launch FILE`, mode 0600:
/// it may hold the admin token): `serialized()` is the one encoder and `init(serialized:)` the one
/// decoder, both the synthesised `Codable` of this type and of `ReferenceBackendConfiguration`.
/// A file rather than argv: a fleet's roster (20,000 devices) is a megabyte, above the kernel's
/// 128 KiB limit on one argument.
public struct BackendLaunch: Codable, Sendable {
    /// What the backend is told (for the first process; the others get it on the first one's port and file).
    public var configuration: ReferenceBackendConfiguration
    /// Processes sharing the port (`SO_REUSEPORT`) and the registry file: 1…64.
    public var processes: Int
    /// Started by the first process of several: this one's number (1, 2, …). nil: the first (or only) one.
    public var workerIndex: Int?
    /// Once every process is up, the endpoints (`BackendEndpoints`) are written here; removed at exit.
    public var endpointsFile: String?
    /// Stop when the process that started this one is gone, killed with no chance to stop its
    /// children: set for an embedded backend (`fleetsim run`) and for every worker.
    public var stopWithParent: Bool

    public init(configuration: ReferenceBackendConfiguration, processes: Int = 1, workerIndex: Int? = nil,
                endpointsFile: String? = nil, stopWithParent: Bool = false) {
        self.configuration = configuration
        self.processes = processes
        self.workerIndex = workerIndex
        self.endpointsFile = endpointsFile
        self.stopWithParent = stopWithParent
    }

    /// Largest `processes`.
    public static let maxProcesses = 64

    public var isWorker: Bool { workerIndex != nil }

    /// The JSON form (keys sorted, so that a launch reads the same every time).
    public func serialized() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    public init(serialized data: Data) throws {
        self = try JSONDecoder().decode(BackendLaunch.self, from: data)
    }

    /// Writes the JSON form to `path`, mode 0600 (it may hold the admin token).
    public func write(to path: String) throws {
        try AtomicFile.write(try serialized(), to: path)
    }

    /// The command line of a child process that reads its launch from `file`.
    public static func arguments(file: String, logLevel: Logger.Level) -> [String] {
        ["backend", "--launch", file, "--log-level", logLevel.rawValue]
    }

    /// The configuration this process serves with: the launch's, plus what sharing the port with
    /// other processes implies (the same port, the shared controls, a control port of its own).
    public var processConfiguration: ReferenceBackendConfiguration {
        var c = configuration
        let shared = processes > 1 || isWorker
        c.reusePort = shared
        c.sharesControls = shared
        c.publishesControlsAtStart = !isWorker
        // Each process of several, or one whose endpoints are written down, is reachable on its own.
        if shared || endpointsFile != nil { c.controlPort = 0 }
        return c
    }

    /// The launch of worker `index` of this (first) process: the same settings, on the port, file
    /// and token the first one opened with.
    func worker(_ index: Int, port: Int, databasePath: String, adminToken: String) -> BackendLaunch {
        var c = configuration
        c.port = port
        c.databasePath = databasePath
        c.adminToken = adminToken
        c.roster = nil   // the first process has seeded the file
        return BackendLaunch(configuration: c, processes: 1, workerIndex: index, endpointsFile: nil, stopWithParent: true)
    }

    /// Database workers per process for `cores` in total over `processes`: each gets its share,
    /// rounded up, at least one. The one rule for the embedded backend at start and for a
    /// `set-db-cores` action later.
    public static func databaseWorkers(cores: Int, processes: Int) -> Int {
        let n = max(1, processes)
        return max(1, (cores + n - 1) / n)
    }
}

/// Writing a file a reader must never see half of: written to a temporary name, then renamed;
/// mode 0600.
enum AtomicFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot create \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw Failure(description: "cannot rename \(temporary) to \(path): \(why)")
        }
    }
}
