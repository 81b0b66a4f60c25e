import Foundation
import Testing

/// The `fleetsim` binary as a user runs it: exit codes and one-line errors.
@Suite(.tags(.slow)) struct CommandLineTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        // The test bundle and the products are built into the same folder.
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while folder.path != "/" && !FileManager.default.fileExists(atPath: folder.appendingPathComponent("fleetsim").path) {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("fleetsim")
    }

    func fleetsim(_ arguments: String...) throws -> Result { try fleetsim(arguments) }

    func fleetsim(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func aValidScenarioValidates() throws {
        let r = try fleetsim("validate", ScenarioRuns.shipped("airtame-2020-02-08.yaml"))
        #expect(r.status == 0)
        #expect(r.stdout.contains("ok — airtame-2020-02-08: 20000 devices"))
    }

    @Test(arguments: [
        ("wrong-unit.yaml", ":7:16: profiles.legacy.heartbeat: expected a duration like \"30s\", got \"30\""),
        ("unknown-key.yaml", "did you mean"),
        ("negative-count.yaml", "expected a whole number >= 0, got -5"),
        ("impossible-range.yaml", "can never match"),
        ("event-after-end.yaml", "after the end of the run"),
        ("syntax.yaml", "bad/syntax.yaml:"),
    ])
    func aBadScenarioIsOneLineNamingWhereAndExitsTwo(file: String, message: String) throws {
        let path = ScenarioRuns.fixture("bad/\(file)")
        for arguments in [["validate", path], ["simulate", path, "--out", NSTemporaryDirectory() + "fleetsim-bad"]] {
            let command = arguments[0]
            let process = try fleetsim(arguments)
            let r = process
            #expect(r.status == 2, "\(command) \(file)")
            #expect(r.stderr.contains(message), "\(r.stderr)")
            #expect(r.stderr.hasPrefix(path), "errors start with file:line:column")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line, no stack trace: \(r.stderr)")
        }
    }

    @Test func badFlagsNameTheFlagAndExitTwo() throws {
        let scenario = ScenarioRuns.fixture("small-fleet.yaml")
        let scale = try fleetsim("simulate", scenario, "--scale", "-3")
        #expect(scale.status == 2 && scale.stderr.contains("--scale"))
        let set = try fleetsim("simulate", scenario, "--set", "fleet[7].count=3")
        #expect(set.status == 2 && set.stderr.contains("--set fleet[7].count=3"))
        let unknown = try fleetsim("simulate", scenario, "--frobnicate")
        #expect(unknown.status == 2 && unknown.stderr.contains("--frobnicate"))
        for r in [scale, set, unknown] { #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)") }
        let missing = try fleetsim("simulate", "/nonexistent/scenario.yaml")
        #expect(missing.status == 2 && missing.stderr.contains("/nonexistent/scenario.yaml"))
    }

    @Test func simulateWritesTheReportsAndPrintsTheStory() throws {
        let out = NSTemporaryDirectory() + "fleetsim-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try fleetsim("simulate", ScenarioRuns.fixture("small-fleet.yaml"), "--out", out)
        // The fixture's fleet dips to 31% online: its threshold `min > 0.5` fails (exit 1).
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("FAIL online_fraction: min > 0.5"))
        #expect(r.stdout.contains("Timeline") && r.stdout.contains("Summary") && r.stdout.contains("retry amplification"))
        let json = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
        let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        #expect(object["schema"] as? String == "fleetsim.report/1")
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(markdown.hasPrefix("# small-fleet") && markdown.contains("## Timeline"))
    }

    @Test func helpListsTheCommands() throws {
        let r = try fleetsim("--help")
        #expect(r.status == 0)
        for command in ["simulate", "validate"] { #expect(r.stdout.contains(command)) }
    }
}
