import Foundation
import Testing

/// `fleetsim run` under signals, as `timeout(1)` and a user at a terminal send them: real
/// processes, real signals, the embedded backend on loopback, each run bounded in time.
@Suite(.serialized, .tags(.slow, .network)) struct LiveSignalTests {
    /// LiveRunTests' fleet, long enough that only a signal ends it.
    static var scenario: String {
        LiveRunTests.fleet.replacingOccurrences(of: "duration: 24s", with: "duration: 10m")
            .components(separatedBy: "timeline:")[0]
    }

    func folder() throws -> String {
        let dir = NSTemporaryDirectory() + "fleetsim-signals-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.scenario.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    /// Waits up to `seconds` for `process` to exit; false if it is still running.
    func exited(_ process: Process, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        return !process.isRunning
    }

    func expectInterruptedReport(_ dir: String) throws {
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/report.json"))) as! [String: Any]
        #expect((report["incomplete"] as? String)?.contains("interrupted") == true)
        let summary = report["summary"] as! [String: Any]
        #expect((summary["connects"] as! Int) >= 200)
        #expect(((report["series"] as! [String: Any])["t_s"] as! [Double]).count >= 2)
    }

    /// `timeout` sends its signal to the run and then to its process group: the run receives
    /// SIGTERM twice within microseconds, which is one request: a clean stop with its report, exit 3.
    /// (`kill -TERM` on the `timeout` process takes the same path in `timeout`: checked by hand,
    /// from a shell; sent from this test process, it did not reach `timeout`.)
    @Test func timeoutsDoubleSIGTERMStopsTheRunWithItsReport() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["--preserve-status", "-s", "TERM", "8",
                             CommandLineTests.binary.path, "run", dir + "/s.yaml", "--out", dir + "/out", "-q"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        guard exited(process, within: 60) else { Issue.record("still running 60 s after timeout's signal"); return }
        #expect(process.terminationReason == .exit && process.terminationStatus == 3, "status \(process.terminationStatus)")
        try expectInterruptedReport(dir)
    }

    /// A second Ctrl-C a second after the first is a user who means it: the run ends at once
    /// (130), even while its clean stop is still waiting (here for an embedded backend that has
    /// been stopped with SIGSTOP, so the first request cannot finish on its own).
    @Test func aSecondSIGINTASecondLaterEndsTheRunAtOnce() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = CommandLineTests.binary
        process.arguments = ["run", dir + "/s.yaml", "--out", dir + "/out", "-q"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var backendPid: Int32?
        for _ in 0..<600 where backendPid == nil {
            usleep(100_000)
            if let data = FileManager.default.contents(atPath: dir + "/out/backend-endpoints.json"),
               let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let first = (json["processes"] as? [[String: Any]])?.first, let pid = first["pid"] as? Int {
                backendPid = Int32(pid)
            }
        }
        let backend = try #require(backendPid, "the embedded backend wrote its endpoints")
        defer { kill(backend, SIGCONT); kill(backend, SIGKILL) }
        Thread.sleep(forTimeInterval: 4)
        kill(backend, SIGSTOP)
        kill(process.processIdentifier, SIGINT)
        Thread.sleep(forTimeInterval: 1)
        #expect(process.isRunning, "the first request is a clean stop, still waiting for the stopped backend")
        let second = Date()
        kill(process.processIdentifier, SIGINT)
        guard exited(process, within: 5) else { Issue.record("still running 5 s after the second SIGINT"); return }
        #expect(Date().timeIntervalSince(second) < 5)
        #expect(process.terminationReason == .exit && process.terminationStatus == 130, "status \(process.terminationStatus)")
    }

    /// Two SIGTERMs 50 ms apart (each taken on its own, not merged by the kernel while pending)
    /// are still one request: the report, exit 3.
    @Test func twoSIGTERMsFiftyMillisecondsApartAreOneRequest() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = CommandLineTests.binary
        process.arguments = ["run", dir + "/s.yaml", "--out", dir + "/out", "-q"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        Thread.sleep(forTimeInterval: 8)
        kill(process.processIdentifier, SIGTERM)
        usleep(50_000)
        kill(process.processIdentifier, SIGTERM)
        guard exited(process, within: 60) else { Issue.record("still running 60 s after SIGTERM"); return }
        #expect(process.terminationReason == .exit && process.terminationStatus == 3, "status \(process.terminationStatus)")
        try expectInterruptedReport(dir)
    }
}
