import Foundation

/// Where a running `fleetsim backend` is reached, written once every process is up
/// (`--endpoints-file`): the device URL, the admin token and each process's pid and loopback
/// control URL. The one type both its writer (`BackendSupervisor`) and its readers (`fleetsim run`'s
/// embedded backend, scripts) use.
public struct BackendEndpoints: Codable, Sendable, Equatable {
    public struct Process: Codable, Sendable, Equatable {
        public var index: Int
        public var pid: Int32
        /// `http://127.0.0.1:PORT`: `/metrics`, `/healthz` and `/admin` of this process alone.
        public var controlURL: String

        public init(index: Int, pid: Int32, controlPort: Int) {
            self.index = index
            self.pid = pid
            controlURL = "http://127.0.0.1:\(controlPort)"
        }

        enum CodingKeys: String, CodingKey { case index, pid, controlURL = "control_url" }
    }

    /// `ws://HOST:PORT/device`.
    public var deviceURL: String
    public var adminToken: String
    /// By index, the first process first.
    public var processes: [Process]

    public init(deviceURL: String, adminToken: String, processes: [Process]) {
        self.deviceURL = deviceURL
        self.adminToken = adminToken
        self.processes = processes.sorted { $0.index < $1.index }
    }

    enum CodingKeys: String, CodingKey { case deviceURL = "device_url", adminToken = "admin_token", processes }

    /// Writes the file (mode 0600: it holds the admin token; renamed into place, so a reader never
    /// sees half of it).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(self) + Data("\n".utf8), to: path)
    }

    /// Reads the file; nil while it is not there (yet).
    public init?(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        self = try JSONDecoder().decode(BackendEndpoints.self, from: data)
    }
}
