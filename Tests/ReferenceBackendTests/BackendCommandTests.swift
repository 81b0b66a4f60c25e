import DeviceModel
import Foundation
import Testing
@testable import ReferenceBackend

/// `fleetsim backend` as a user runs it: one-line errors naming the flag, and a clean stop on SIGINT.
@Suite struct BackendCommandTests {
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
}
