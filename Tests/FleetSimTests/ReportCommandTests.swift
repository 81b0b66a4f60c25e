import FleetSim
import Foundation
import LoadReport
import Testing

/// Thresholds as a CI gate, and the `report` and `compare` commands, as a user runs them.
@Suite(.tags(.slow)) struct ReportCommandTests {
    let cli = CommandLineTests()

    func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "fleetsim-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    @Test func aBadThresholdIsInvalidInputWithItsLocation() throws {
        let path = ScenarioRuns.fixture("bad/bad-threshold.yaml")
        for arguments in [["validate", path], ["simulate", path, "--out", NSTemporaryDirectory() + "fleetsim-bad"]] {
            let r = try cli.fleetsim(arguments)
            #expect(r.status == 2, "\(arguments[0])")
            #expect(r.stderr.hasPrefix(path + ":13:31: thresholds.handshake_ms: \"p99 = 500\": unknown comparison"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        let unknown = try cli.fleetsim("validate", ScenarioRuns.fixture("gate.yaml"), "--set", "thresholds.handshake_mss=[\"p99 < 5\"]")
        #expect(unknown.status == 2 && unknown.stderr.contains("did you mean \"handshake_ms\"?"), "\(unknown.stderr)")
    }

    @Test func theLongFormCarriesAbortOnFail() throws {
        let s = try ScenarioLoader.load(path: ScenarioRuns.fixture("gate.yaml"))
        #expect(s.thresholds.map(\.abortOnFail) == [false, false, true, false])
        #expect(s.thresholds[2].expression == "p99 < 5000" && s.thresholds[2].location?.hasSuffix("gate.yaml:17:31") == true)
        #expect(throws: (any Error).self) {
            try ScenarioLoader.load(path: ScenarioRuns.fixture("gate.yaml"), overrides: ["thresholds.handshake_ms=[{ threshold: \"p99 < 5\", abort: true }]"])
        }
    }

    @Test func thresholdsGateTheRunAndWriteJUnitAndASummary() throws {
        let out = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let pass = try cli.fleetsim("simulate", ScenarioRuns.fixture("gate.yaml"), "--out", out + "/pass",
                                    "--junit", out + "/pass.xml", "--summary-md", out + "/summary.md")
        #expect(pass.status == 0, "\(pass.stderr)")
        #expect(pass.stdout.contains("ok   handshake_ms: p99 < 5000 (measured"))
        for file in ["report.json", "report.md", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/pass/\(file)"), "\(file)")
        }
        let thresholds = try json(out + "/pass/report.json")["thresholds"] as! [[String: Any]]
        #expect(thresholds.count == 4 && thresholds.allSatisfy { $0["ok"] as? Bool == true && $0["value"] is Double })
        let junit = try String(contentsOfFile: out + "/pass.xml", encoding: .utf8)
        #expect(junit.components(separatedBy: "<testcase ").count - 1 == 4 && junit.contains("failures=\"0\""))

        let fail = try cli.fleetsim("simulate", ScenarioRuns.fixture("gate.yaml"), "--out", out + "/fail", "-q",
                                    "--set", "thresholds.backend_crashes=[\"count > 0\"]",
                                    "--junit", out + "/fail.xml", "--summary-md", out + "/summary.md")
        #expect(fail.status == 1)
        #expect(fail.stderr.contains("a threshold failed: backend_crashes: count > 0"), "\(fail.stderr)")
        let failed = try String(contentsOfFile: out + "/fail.xml", encoding: .utf8)
        #expect(failed.contains("failures=\"1\"") && failed.contains("message=\"backend_crashes count &gt; 0 failed: measured 0\""))
        // The job summary is appended to, as CI systems expect: both runs are in it.
        let summary = try String(contentsOfFile: out + "/summary.md", encoding: .utf8)
        #expect(summary.contains("✅ **FleetSim: all 4 thresholds held**") && summary.contains("❌ **FleetSim: 1 of 4 thresholds failed**"))
    }

    @Test func reportReRendersAndExitsWithTheRunsVerdict() throws {
        let out = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try cli.fleetsim("simulate", ScenarioRuns.fixture("gate.yaml"), "--out", out, "-q",
                             "--set", "thresholds.online_fraction=[\"final > 1.5\"]")
        let r = try cli.fleetsim("report", out + "/report.json", "--html", out + "/again.html",
                                 "--md", out + "/again.md", "--junit", out + "/again.xml")
        #expect(r.status == 1 && r.stdout.contains("FAIL online_fraction: final > 1.5 (measured 1)"))
        let html = try String(contentsOfFile: out + "/again.html", encoding: .utf8)
        #expect(html == (try String(contentsOfFile: out + "/report.html", encoding: .utf8)))
        #expect(FileManager.default.fileExists(atPath: out + "/again.md") && FileManager.default.fileExists(atPath: out + "/again.xml"))
        let missing = try cli.fleetsim("report", out + "/nope.json")
        #expect(missing.status == 2 && missing.stderr.contains("nope.json: cannot read the file"))
        try Data("{\"schema\": \"other/2\"}".utf8).write(to: URL(fileURLWithPath: out + "/other.json"))
        let other = try cli.fleetsim("report", out + "/other.json")
        #expect(other.status == 2 && other.stderr.contains("schema \"other/2\" is not fleetsim.report/1"), "\(other.stderr)")
    }

    @Test func compareExitsOneOnARegressionBeyondTheBound() throws {
        let out = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try cli.fleetsim("simulate", ScenarioRuns.fixture("gate.yaml"), "--out", out + "/base", "-q")
        let base = out + "/base/report.json"
        let same = try cli.fleetsim("compare", base, base)
        #expect(same.status == 0 && same.stdout.contains("No metric changed."), "\(same.stdout)")

        var worse = try json(base)
        var summary = worse["summary"] as! [String: Any]
        summary["online_fraction_min"] = 0.5
        summary["backend_crashes"] = 2
        worse["summary"] = summary
        try JSONSerialization.data(withJSONObject: worse).write(to: URL(fileURLWithPath: out + "/worse.json"))
        let r = try cli.fleetsim("compare", base, out + "/worse.json", "--max-regression", "10%")
        #expect(r.status == 1)
        #expect(r.stdout.contains("online_fraction min") && r.stdout.contains("REGRESSION"), "\(r.stdout)")
        #expect(r.stderr.contains("2 metrics regressed by more than 10%: online_fraction min, backend_crashes"), "\(r.stderr)")
        // Better is never a regression.
        #expect(try cli.fleetsim("compare", out + "/worse.json", base).status == 0)
        let bad = try cli.fleetsim("compare", base, base, "--max-regression", "10")
        #expect(bad.status == 2 && bad.stderr.contains("--max-regression"))
    }

    @Test func mergeAddsShardsAndRefusesDifferentScenarios() throws {
        let out = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try cli.fleetsim("simulate", ScenarioRuns.fixture("gate.yaml"), "--out", out + "/a", "-q")
        _ = try cli.fleetsim("simulate", ScenarioRuns.fixture("gate.yaml"), "--out", out + "/b", "-q")
        let r = try cli.fleetsim("report", "merge", out + "/a/report.json", out + "/b/report.json", "-o", out + "/merged.json",
                                 "--html", out + "/merged.html", "-q")
        #expect(r.status == 0, "\(r.stderr)")
        let a = try json(out + "/a/report.json")["summary"] as! [String: Any]
        let merged = try json(out + "/merged.json")["summary"] as! [String: Any]
        #expect(merged["devices"] as? Int == 400)
        #expect(merged["connect_attempts"] as? Int == 2 * (a["connect_attempts"] as! Int))
        #expect(FileManager.default.fileExists(atPath: out + "/merged.html"))

        _ = try cli.fleetsim("simulate", ScenarioRuns.fixture("gate.yaml"), "--out", out + "/c", "-q", "--set", "name=other")
        let mixed = try cli.fleetsim("report", "merge", out + "/a/report.json", out + "/c/report.json", "-o", out + "/x.json")
        #expect(mixed.status == 2)
        #expect(mixed.stderr.contains("report 2 is of scenario \"other\", report 1 of \"gate\""), "\(mixed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/x.json"))
    }
}
