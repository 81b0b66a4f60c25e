import DeviceModel
import Foundation
import LoadReport

// report-gate REPORT.json [--require "METRIC EXPRESSION"]... [--policy KIND:BASE:CAP]
//
// A team's own gate over a FleetSim report: the report's thresholds as the run judged them, the
// team's extra requirements evaluated on the same data (LoadReport), and the worst-case wait of
// its firmware's reconnect policy (DeviceModel), to read next to the report's recovery figures.
// Exit codes: 0 every threshold and requirement holds, 1 one fails, 2 bad input.

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("report-gate: \(message)\n".utf8))
    exit(2)
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let path = arguments.first, !path.hasPrefix("-") else {
    fail("usage: report-gate REPORT.json [--require \"METRIC EXPRESSION\"]... [--policy KIND:BASE:CAP]")
}
arguments.removeFirst()
var requirements: [Report.ThresholdResult] = []
var policy: ReconnectPolicy?
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    guard let value = arguments.first else { fail("\(flag): needs a value") }
    arguments.removeFirst()
    switch flag {
    case "--require":
        let parts = value.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { fail("--require: expected \"METRIC EXPRESSION\", like \"online_fraction min > 0.95\", got \"\(value)\"") }
        do { try Thresholds.check(metric: parts[0], expression: parts[1]) } catch { fail("--require \"\(value)\": \(error)") }
        requirements.append(Report.ThresholdResult(metric: parts[0], expression: parts[1]))
    case "--policy":
        let parts = value.split(separator: ":").map(String.init)
        guard parts.count == 3, let kind = ReconnectPolicy.Kind(rawValue: parts[0]),
              let base = Units.duration(parts[1]), let cap = Units.duration(parts[2]) else {
            fail("--policy: expected KIND:BASE:CAP, like full-jitter:1s:5m, got \"\(value)\"")
        }
        policy = ReconnectPolicy(kind: kind, base: base, cap: cap)
    default:
        fail("unknown option \(flag)")
    }
}

let report: Report
do { report = try Report.read(path: path) } catch { fail("\(path): \(error)") }

var failed = false
print("\(report.scenario) (\(report.mode), seed \(report.seed)): \(report.summary.devices) devices")
for (origin, thresholds) in [("scenario", report.thresholds), ("required", requirements)] {
    for t in thresholds {
        let judged: Report.ThresholdResult
        do { judged = try Thresholds.evaluate(t, in: report) } catch { fail("\(t.metric): \(error)") }
        let value = judged.value.map { String(format: "%.4g", $0) } ?? "not measured"
        print("  \(judged.ok == true ? "ok  " : "FAIL") \(origin) \(t.metric) \(t.expression)  (measured \(value))")
        if judged.ok != true { failed = true }
    }
}

if let policy {
    // The longest wait a device can draw at each attempt (DeviceModel's own delay rule, maximised
    // over seeds): what a fleet on this policy adds to recovery after a mass disconnect.
    var worst: [Nanoseconds] = Array(repeating: 0, count: 8)
    for seed in 0..<200 {
        var random = SeededRandom(seed: UInt64(seed))
        var previous: Nanoseconds = 0
        for attempt in worst.indices {
            previous = policy.delay(attempt: attempt, previous: previous, random: &random)
            worst[attempt] = max(worst[attempt], previous)
        }
    }
    print("  reconnect \(policy.kind.rawValue): longest wait per attempt " + worst.map { String(format: "%.1f s", Double($0) / 1e9) }.joined(separator: ", "))
}
exit(failed ? 1 : 0)
