import DeviceModel
import Foundation
import Testing
@testable import ReferenceBackend

/// `fleetsim backend` as a user runs it: one-line errors naming the flag, and a clean stop on SIGINT.
@Suite(.tags(.slow, .network)) struct BackendCommandTests {
    static var binary: URL {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while folder.path != "/" && !FileManager.default.fileExists(atPath: folder.appendingPathComponent("fleetsim").path) {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("fleetsim")
    }

    @Test(arguments: [
        (["--rows", "many"], "--rows: expected"),
        (["--memory-limit", "2 gigs"], "--memory-limit: expected a size"),
        (["--lookup", "fullscan"], "--lookup: expected \"indexed\" or \"scan\""),
        (["--block", ">=banana"], "--block: expected a firmware range"),
        (["--port", "70000"], "--port: expected a port number"),
        (["--hello-timeout", "10"], "--hello-timeout: expected a duration"),
        (["--admission-burst", "5"], "--admission-burst: needs --admission-rate"),
        (["--processes", "0"], "--processes: expected a positive"),
        (["--db", "/nonexistent-dir/x.sqlite"], "--db: directory"),
        (["--listen", "127.0.0.1:8080", "--port", "9090"], "--listen: names port 8080 but --port says 9090"),
        (["--listen", "[::1"], "--listen: expected HOST, HOST:PORT or [IPV6]:PORT"),
        (["--listen", "127.0.0.1:http"], "--listen: expected HOST, HOST:PORT or [IPV6]:PORT"),
        (["--listen", "[127.0.0.1]:80"], "--listen: expected HOST, HOST:PORT or [IPV6]:PORT"),
        (["--admission-rate", "0.5"], "--admission-rate: below 1/s needs --admission-burst"),
        (["--admission-retry-after", "30s"], "--admission-retry-after: needs --admission-rate or --max-pending"),
        (["--admission-rate", "5", "--admission-retry-after", "30"], "--admission-retry-after: expected a duration"),
        (["--endpoints-file", "/nonexistent-dir/e.json"], "--endpoints-file: directory"),
        (["--pending-memory", "lots"], "--pending-memory: expected a size"),
        (["--queue-timeout", "30"], "--queue-timeout: expected a duration"),
    ])
    func badFlagsAreOneLineNamingTheFlagAndExitTwo(arguments: [String], message: String) throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["backend"] + arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
        #expect(stderr.hasPrefix("fleetsim backend: " + message), "\(stderr)")
        #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
    }

    @Test func aBadRosterIsOneLineNamingTheFlagAndTheFilesLineAndColumn() throws {
        let file = NSTemporaryDirectory() + "fleetsim-roster-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "uuid,firmware\n0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89,3.7.2\n0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a8,3.7.2\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (status, stderr) = try Self.runToExit(["backend", "--roster", file])
        #expect(status == 2)
        #expect(stderr == "fleetsim backend: --roster: \(file):3:1: expected a UUID like 0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89, got \"0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a8\"\n")
        let (missing, missingErr) = try Self.runToExit(["backend", "--roster", file + ".absent"])
        #expect(missing == 2)
        #expect(missingErr.hasPrefix("fleetsim backend: --roster: \(file).absent:1:1: cannot read device CSV"), "\(missingErr)")
        #expect(missingErr.split(separator: "\n").count == 1)
    }

    /// Runs the binary to its exit; returns the status and standard error.
    static func runToExit(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }

    @Test func servesUntilInterruptedThenStopsCleanly() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(path) }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["backend", "--port", "0", "--rows", "500", "--db", path, "--admin-token", "tok", "--db-workers", "1", "--event-loops", "1",
                             "--hello-timeout", "60s", "--request-timeout", "60s"]  // generous: CI machines can be very busy
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // First line: "fleetsim backend: listening on ws://127.0.0.1:PORT/device  (…)"
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while !text.contains("Ctrl-C"), Date() < deadline {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        let port = try #require(text.split(separator: "ws://127.0.0.1:").dropFirst().first?.split(separator: "/").first.flatMap { Int($0) })
        #expect(text.contains("admin token: tok"))
        let uuid = DeviceRegistry.seededUUID(index: 3)
        let device = try await TestConnection.device(port: port, uuid: uuid, firmware: "3.7.2")
        try await device.send(text: "{\"type\":\"heartbeat\",\"seq\":1}")
        #expect(try await device.next() == .text("{\"type\":\"ack\",\"seq\":1}"))
        kill(process.processIdentifier, SIGINT)
        #expect(try await device.closeCode() == DeviceCloseCode.goingAway)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try DeviceRegistry.lastSeen(path: path, uuid: uuid) != nil, "SIGINT writes pending last_seen updates")
    }

    /// A running `fleetsim backend`: its process, its standard output so far, and a reader.
    final class Running: @unchecked Sendable {
        let process = Process()
        private let out = Pipe()
        private(set) var text = ""

        init(_ arguments: [String]) throws {
            process.executableURL = BackendCommandTests.binary
            process.arguments = ["backend"] + arguments
            process.standardOutput = out
            process.standardError = FileHandle.standardError
            try process.run()
        }

        /// Reads standard output until it contains `marker` (or the output ends, or 30 s pass).
        func read(until marker: String) -> Bool {
            let deadline = Date().addingTimeInterval(30)
            while !text.contains(marker), Date() < deadline {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            return text.contains(marker)
        }

        /// Waits up to `seconds` for the process to exit; false if it is still running.
        func exited(within seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            return !process.isRunning
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aTerminationSignalStopsTheBackendCleanlyWithinTenSeconds(signal: Int32) throws {
        let backend = try Running(["--port", "0", "--rows", "200", "--db-workers", "1", "--event-loops", "1"])
        #expect(backend.read(until: "Ctrl-C"))
        let sent = Date()
        kill(backend.process.processIdentifier, signal)
        #expect(backend.exited(within: 10), "still running 10 s after signal \(signal)")
        #expect(Date().timeIntervalSince(sent) < 10)
        #expect(backend.process.terminationReason == .exit && backend.process.terminationStatus == 0)
        #expect(backend.read(until: "fleetsim backend: stopped"))
    }

    @Test func listenTakesHostAndPortTogether() throws {
        let backend = try Running(["--listen", "127.0.0.1:0", "--rows", "10", "--db-workers", "1", "--event-loops", "1"])
        #expect(backend.read(until: "Ctrl-C"))
        #expect(backend.text.contains("listening on ws://127.0.0.1:"))
        #expect(!backend.text.contains("ws://127.0.0.1:8080/"), "the port --listen names (0: any free one), not the default")
        kill(backend.process.processIdentifier, SIGTERM)
        #expect(backend.exited(within: 10) && backend.process.terminationStatus == 0)
    }

    @Test func everyProcessIsNamedInTheEndpointsFileAndControlledOnItsOwn() async throws {
        let file = NSTemporaryDirectory() + "fleetsim-endpoints-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let backend = try Running(["--port", "0", "--rows", "200", "--processes", "2", "--db-workers", "1", "--event-loops", "1",
                                   "--admin-token", "tok", "--endpoints-file", file, "--restart-delay", "60s"])
        #expect(backend.read(until: "Ctrl-C"))
        let data = try #require(FileManager.default.contents(atPath: file), "written before the banner")
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["admin_token"] as? String == "tok")
        let deviceURL = try #require(json["device_url"] as? String)
        #expect(deviceURL.hasPrefix("ws://127.0.0.1:") && deviceURL.hasSuffix("/device"))
        let processes = try #require(json["processes"] as? [[String: Any]])
        #expect(processes.map { $0["index"] as? Int } == [0, 1])
        #expect(processes[0]["pid"] as? Int == Int(backend.process.processIdentifier))
        let ports = processes.compactMap { ($0["control_url"] as? String)?.split(separator: ":").last.flatMap { Int($0) } }
        #expect(ports.count == 2 && Set(ports).count == 2)
        var pids: [Int] = []
        for (i, port) in ports.enumerated() {
            let metrics = try await TestConnection.http(port: port, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("pid=\"\(processes[i]["pid"] as? Int ?? -1)\""), "each control port answers for its own process")
            pids.append(processes[i]["pid"] as? Int ?? -1)
        }
        #expect(Set(pids).count == 2)
        // Restart process 1 alone, for one second: its health drops and returns; process 0 stays up.
        let auth = ["Authorization": "Bearer tok"]
        let r = try await TestConnection.http(port: ports[1], method: "POST", path: "/admin/restart", headers: auth, body: "down=1s")
        #expect(r.status == 202)
        #expect(try await TestConnection.http(port: ports[1], path: "/healthz").status == 503)
        #expect(try await TestConnection.http(port: ports[0], path: "/healthz").status == 200)
        var back = false
        for _ in 0..<100 where !back {
            try await Task.sleep(nanoseconds: 100_000_000)
            back = try await TestConnection.http(port: ports[1], path: "/healthz").status == 200
        }
        #expect(back, "process 1 listens again after its second down")
        kill(backend.process.processIdentifier, SIGTERM)
        #expect(backend.exited(within: 10) && backend.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: file), "removed at exit")
        #expect(kill(Int32(pids[1]), 0) != 0, "the worker process has stopped too")
    }
}
