import DeviceModel
import Foundation
import Yams

/// Writes a scenario back with its backend model calibrated: the same file, every comment and
/// key kept, the measured keys' values replaced in place (or added to their mapping), and a
/// comment block on top saying what was measured, against what, when and from how many samples.
public enum CalibratedScenario {
    /// The model keys a calibration sets, in scenario units, with why each has its value.
    public struct Value: Sendable, Equatable {
        public var path: [String]      // e.g. ["backend", "database", "indexed_cost"]
        public var value: String       // e.g. "3.1ms"
        public var why: String
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    /// The keys `result` sets on `scenario`; scenario time is wall time × the time scale.
    public static func values(_ result: ScenarioCalibrator.Result, scenario: Scenario) -> [Value] {
        let k = result.timeScale
        var out: [Value] = []
        let indexed = result.profiles.first { $0.lookup == .indexed }
        let scan = result.profiles.first { $0.lookup == .scan }
        func wall(_ s: Double) -> String { StatedCostWarning.milliseconds(s) + " live" }
        func source(_ p: ScenarioCalibrator.ProfileCost) -> String {
            let hello = "hello → welcome \(wall(p.handshakeS)) over the round trip, median of \(p.samples)"
            guard let db = p.databaseS else { return "profile \(p.profile) (group \(p.group)): \(hello)" }
            return "profile \(p.profile) (group \(p.group)): the database's own \(wall(db)) per lookup over \(p.samples) handshakes (its /metrics; \(hello))"
        }
        if let i = indexed {
            out.append(Value(path: ["backend", "database", "indexed_cost"], value: duration(i.lookupS * k), why: source(i)))
        }
        let rows = result.rows ?? scenario.backend.database.rows
        if let s = scan, rows > 0 {
            // Without the database's own figures, the scan's extra over an indexed handshake.
            let lookup = s.databaseS ?? max(0, s.handshakeS - (indexed?.handshakeS ?? 0))
            if result.rows != nil && result.rows != scenario.backend.database.rows {
                out.append(Value(path: ["backend", "database", "rows"], value: "\(rows)", why: "the backend's devices table (its /metrics)"))
            }
            out.append(Value(path: ["backend", "database", "scan_cost_per_row"], value: duration(lookup * k / Double(rows)),
                             why: source(s) + (s.databaseS == nil ? ", less the indexed lookup" : "") + ", ÷ \(rows) rows"))
            if let qps = result.queriesPerS, let busy = result.loadBusy, busy >= 0.9, qps > 0 {
                let cores = max(1, Int((qps * s.lookupS).rounded()))
                out.append(Value(path: ["backend", "database", "cores"], value: "\(cores)",
                                 why: String(format: "sustained %.1f scans/s over %.1f s with the database %.0f%% busy × %@ each", qps, result.loadSeconds, busy * 100, wall(s.lookupS))))
            }
        }
        out.append(Value(path: ["backend", "database", "heartbeat_cost"], value: duration(result.heartbeatS * k),
                         why: "\(wall(result.heartbeatS)) per heartbeat, from \(result.heartbeatSource)"))
        if let m = result.memoryBase {
            out.append(Value(path: ["backend", "gateways", "memory_base"], value: bytes(m),
                             why: "anonymous memory of a backend process before the held connections (after the handshakes above)"))
        }
        if let m = result.memoryPerConnection {
            out.append(Value(path: ["backend", "gateways", "per_connection"], value: bytes(m),
                             why: "anonymous memory of the backend with \(result.connectionsHeld) connections held open, per connection"))
        }
        if let m = result.memoryPerPending {
            out.append(Value(path: ["backend", "gateways", "per_pending"], value: bytes(m),
                             why: "backend memory (real and stated) against handshakes pending under load (up to \(result.peakPending ?? 0) pending)"))
        }
        return out
    }

    /// `source` (the scenario file's text) with `values` applied and the measurement on top.
    public static func write(source: String, values: [Value], result: ScenarioCalibrator.Result, file: String) throws -> String {
        var lines = source.components(separatedBy: "\n")
        let formatter = ISO8601DateFormatter()
        var header = [
            "# Calibrated by `fleetsim calibrate \(file)` on \(formatter.string(from: result.measuredAt)),",
            "# against \(result.target) at ×\(trim(result.timeScale)) (wall-clock figures × \(trim(result.timeScale)) = scenario time).",
            "# Measured at low load, one connection at a time: the round trip (ping → pong) \(StatedCostWarning.milliseconds(result.roundTripS)),",
        ]
        for p in result.profiles {
            header.append("#   profile \(p.profile) (\(p.lookup.rawValue) lookup, group \(p.group)): hello → welcome \(StatedCostWarning.milliseconds(p.handshakeS)) over it, median of \(p.samples)")
        }
        header.append("# Heartbeat: \(result.heartbeatSource).")
        if let q = result.queriesPerS {
            header.append(String(format: "# Under load (%.1f s, many connections at once): %.1f database queries/s", result.loadSeconds, q)
                          + (result.loadBusy.map { String(format: ", database %.0f%% busy", $0 * 100) } ?? "")
                          + (result.workers.map { ", \($0) workers" } ?? "") + ".")
        }
        header.append("# Set below (each line says why):")
        for v in values { header.append("#   \(v.path.joined(separator: ".")) = \(v.value): \(v.why)") }
        header.append("")

        for v in values { try apply(v, to: &lines) }
        return (header + lines).joined(separator: "\n")
    }

    /// Replaces the scalar at `v.path` in place, or adds the key to its parent mapping.
    static func apply(_ v: Value, to lines: inout [String]) throws {
        guard let root = try Yams.compose(yaml: lines.joined(separator: "\n")) else { throw Failure(description: "the scenario is empty") }
        var node = root
        var parents: [Node] = []
        for (i, key) in v.path.enumerated() {
            guard let mapping = node.mapping else { throw Failure(description: "\(v.path.prefix(i).joined(separator: ".")) is not a mapping") }
            if let child = mapping[key] {
                parents.append(node)
                node = child
                continue
            }
            // The key is missing: add it to this mapping, as the mapping is written.
            let value = v.path[i...].count == 1 ? v.value : nil
            guard let value else { throw Failure(description: "\(v.path.prefix(i + 1).joined(separator: ".")) is missing") }
            try insert(key: key, value: value, into: node, lines: &lines)
            return
        }
        guard case .scalar(let scalar) = node, let mark = node.mark else {
            throw Failure(description: "\(v.path.joined(separator: ".")) is not a single value")
        }
        let li = mark.line - 1
        let chars = Array(lines[li].unicodeScalars)
        let start = mark.column - 1
        var end = start
        let raw = scalar.string
        if scalar.style == .singleQuoted || scalar.style == .doubleQuoted {
            end = start + 1
            while end < chars.count && chars[end] != chars[start] { end += 1 }
            end += 1
        } else {
            end = start + raw.unicodeScalars.count
        }
        var text = String(String.UnicodeScalarView(chars[..<start])) + v.value + String(String.UnicodeScalarView(chars[min(end, chars.count)...]))
        if parents.last.map({ isBlock($0, lines: lines) }) == true, !text.contains("#") {
            text += "  # calibrated"
        }
        lines[li] = text
    }

    static func isBlock(_ mapping: Node, lines: [String]) -> Bool {
        guard let m = mapping.mark else { return false }
        let line = Array(lines[m.line - 1].unicodeScalars)
        return m.column - 1 < line.count && line[m.column - 1] != "{"
    }

    static func insert(key: String, value: String, into mapping: Node, lines: inout [String]) throws {
        guard let m = mapping.mark, let pairs = mapping.mapping else { throw Failure(description: "cannot place \(key)") }
        if !isBlock(mapping, lines: lines) {
            // Flow style: `{ a: 1, … }` → `{ key: value, a: 1, … }`.
            var line = Array(lines[m.line - 1].unicodeScalars)
            let at = m.column  // just after "{"
            let insertion = Array(" \(key): \(value),".unicodeScalars)
            line.insert(contentsOf: insertion, at: at)
            lines[m.line - 1] = String(String.UnicodeScalarView(line))
            return
        }
        // Block style: a new line after the mapping's last entry, at its keys' indentation.
        let keys = Array(pairs.keys), values = Array(pairs.values)
        guard let lastKey = keys.last?.mark, let firstKey = keys.first?.mark else {
            throw Failure(description: "cannot place \(key)")
        }
        var after = lastKey.line - 1
        if let lastValue = values.last { after = max(after, lastEnd(lastValue) - 1) }
        lines.insert(String(repeating: " ", count: firstKey.column - 1) + "\(key): \(value)  # calibrated", at: after + 1)
    }

    /// The last line a node's subtree marks.
    static func lastEnd(_ node: Node) -> Int {
        var line = node.mark?.line ?? 1
        switch node {
        case .mapping(let m): for (k, v) in m { line = max(line, k.mark?.line ?? 0, lastEnd(v)) }
        case .sequence(let s): for v in s { line = max(line, lastEnd(v)) }
        default: break
        }
        return line
    }

    /// A duration in the scenario's units, three significant digits (`0.812ms`, `122us`).
    static func duration(_ seconds: Double) -> String {
        let ns = seconds * 1e9
        if ns >= 1e9 { return trim3(ns / 1e9) + "s" }
        if ns >= 1e6 { return trim3(ns / 1e6) + "ms" }
        if ns >= 1e3 { return trim3(ns / 1e3) + "us" }
        return String(format: "%.0fns", max(0, ns))
    }

    static func bytes(_ b: Double) -> String {
        if b >= 1_048_576 { return trim3(b / 1_048_576) + "MiB" }
        if b >= 1024 { return trim3(b / 1024) + "KiB" }
        return String(format: "%.0fB", max(0, b))
    }

    static func trim3(_ v: Double) -> String {
        var s = String(format: "%.3g", v)
        if s.contains("e") { s = String(format: "%.0f", v) }
        return s
    }

    static func trim(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
