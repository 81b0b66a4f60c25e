import DeviceModel
import Foundation
import LoadReport
import NIOCore
import WSClient

/// Measures a real backend's service costs at low load, with a few real WebSocket connections, so
/// that the backend model's costs come from the user's own backend rather than from guesses.
///
/// One connection at a time (no queueing: what is measured is service time, not waiting): for each
/// firmware, one device registers itself (not measured), then reconnects `samples` times. Per
/// connection: `hello` → `welcome` (the handshake: lookup of a known device), a WebSocket ping →
/// pong (the transport's round trip, no application work) and `heartbeat` → `ack`. Costs are
/// medians with the round trip subtracted.
public enum Calibrator {
    public struct Measurement: Sendable, Equatable {
        public var firmware: String
        /// hello → welcome minus the round trip, median, seconds.
        public var handshakeS: Double
        public var samples: Int
    }

    public struct Result: Sendable {
        public var target: String
        public var roundTripS: Double
        /// heartbeat → ack minus the round trip, median, seconds (a backend that batches its
        /// last_seen writes answers before the write: this is then the cost on the reply's path).
        public var heartbeatS: Double
        public var handshakes: [Measurement]

        /// The backend-model fragment: the database costs as `scenario` keys, with the `--set`
        /// lines that apply them. `indexed` names the firmware measured as an indexed lookup and
        /// `scan` the one measured as a full scan of `rows` rows.
        public func fragment(rows: Int?, indexed: String?, scan: String?) -> String {
            func cost(_ fw: String?) -> Double? { fw.flatMap { f in handshakes.first { $0.firmware == f }?.handshakeS } }
            var keys: [(String, String)] = []
            if let i = cost(indexed) { keys.append(("indexed_cost", Calibrator.duration(i))) }
            if let s = cost(scan), let rows, rows > 0 {
                let perRow = max(0, s - (cost(indexed) ?? 0)) / Double(rows)
                keys.append(("rows", "\(rows)"))
                keys.append(("scan_cost_per_row", Calibrator.duration(perRow)))
            }
            keys.append(("heartbeat_cost", Calibrator.duration(heartbeatS)))
            var out = "# fleetsim calibrate: measured against \(target) at low load, one connection at a time.\n"
            out += String(format: "# round trip (ping/pong) %.3f ms; heartbeat→ack %.3f ms over it.\n", roundTripS * 1000, heartbeatS * 1000)
            for m in handshakes {
                out += String(format: "# firmware %@: hello→welcome %.3f ms over the round trip (median of %d)\n",
                              m.firmware, m.handshakeS * 1000, m.samples)
            }
            out += "# Apply: fleetsim simulate SCENARIO " + keys.map { "--set backend.database.\($0.0)=\($0.1)" }.joined(separator: " ") + "\n"
            out += "backend:\n  database:\n"
            for (k, v) in keys { out += "    \(k): \(v)\n" }
            return out
        }

        /// The `--set` arguments that apply the fragment.
        public func overrides(rows: Int?, indexed: String?, scan: String?) -> [String] {
            fragment(rows: rows, indexed: indexed, scan: scan).split(separator: "\n")
                .filter { $0.hasPrefix("    ") }
                .map { line in
                    let kv = line.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
                    return "backend.database.\(kv[0])=\(kv[1].trimmingCharacters(in: .whitespaces))"
                }
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A duration in the scenario's units, exact enough for a model (`0.8ms`, `10.5us`, `120ns`).
    static func duration(_ seconds: Double) -> String {
        let ns = Nanoseconds(max(0, min(seconds, 1e9) * 1e9).rounded())
        var resolution: Nanoseconds = 1   // three significant digits: a measurement has no more
        while ns / resolution >= 1000 { resolution *= 10 }
        return Units.format(duration: ns, resolution: resolution)
    }

    /// Measures `firmwares` against `url` (ws:// or wss://).
    /// `shouldStop` is checked before each connection: true stops the measurement (it throws).
    public static func measure(url: String, firmwares: [String], samples: Int = 20,
                               timeout: Double = 10, protocol spoken: DeviceProtocol = .default,
                               shouldStop: @escaping @Sendable () -> Bool = { false }) throws -> Result {
        let client = try WSClient()
        let endpoint = try client.resolve(try WSEndpoint(url: url)).wait()
        var rtts: [Double] = [], beats: [Double] = []
        var measurements: [Measurement] = []
        for text in firmwares {
            guard let firmware = FirmwareVersion(text) else {
                throw Failure(description: "expected a firmware version like 3.8.0-b3, got \"\(text)\"")
            }
            let uuid = DeviceUUID(seed: UInt64.random(in: 0...UInt64.max), index: 0)
            _ = try session(client, endpoint, spoken, uuid: uuid, firmware: firmware, timeout: timeout)   // registers the device
            var hellos: [Double] = []
            for _ in 0..<max(1, samples) {
                if shouldStop() { throw Failure(description: "interrupted") }
                let s = try session(client, endpoint, spoken, uuid: uuid, firmware: firmware, timeout: timeout)
                hellos.append(s.hello); rtts.append(s.rtt); beats.append(s.heartbeat)
            }
            measurements.append(Measurement(firmware: text, handshakeS: median(hellos), samples: hellos.count))
        }
        let rtt = median(rtts)
        for i in measurements.indices { measurements[i].handshakeS = max(0, measurements[i].handshakeS - rtt) }
        return Result(target: url, roundTripS: rtt, heartbeatS: max(0, median(beats) - rtt), handshakes: measurements)
    }

    static func median(_ v: [Double]) -> Double { ReportRules.median(v) ?? 0 }

    /// One connection: hello→welcome, ping→pong, heartbeat→ack, close. Seconds.
    static func session(_ client: WSClient, _ endpoint: WSEndpoint, _ spoken: DeviceProtocol, uuid: DeviceUUID,
                        firmware: FirmwareVersion, timeout: Double) throws -> (hello: Double, rtt: Double, heartbeat: Double) {
        let probe = Probe()
        let connection = client.connect(to: endpoint, delegate: probe)
        defer { connection.close(); _ = probe.closed.wait(timeout: .now() + 2) }
        func next(_ what: String) throws -> UInt64 {
            guard probe.events.wait(timeout: .now() + timeout) == .success else {
                throw Failure(description: "\(endpoint.host):\(endpoint.port): no \(what) within \(Int(timeout)) s")
            }
            if let failure = probe.failure { throw Failure(description: "\(endpoint.host):\(endpoint.port): \(failure) (waiting for \(what))") }
            return probe.lastAt
        }
        _ = try next("WebSocket upgrade")
        var t0 = DispatchTime.now().uptimeNanoseconds
        connection.send(text: spoken.helloText(uuid: uuid, firmware: firmware))
        let welcome = try next("welcome")
        guard spoken.interpret(probe.lastText, outstanding: 0) == .welcome else {
            throw Failure(description: "expected a welcome for firmware \(firmware), got \(probe.lastText)")
        }
        let hello = Double(welcome - t0) / 1e9
        t0 = DispatchTime.now().uptimeNanoseconds
        connection.ping()
        let pong = try next("pong")
        let rtt = Double(pong - t0) / 1e9
        t0 = DispatchTime.now().uptimeNanoseconds
        connection.send(text: spoken.heartbeatText(uuid: uuid, firmware: firmware, seq: 1))
        let ack = try next("ack")
        guard spoken.interpret(probe.lastText, outstanding: 1) == .ack(seq: 1) else {
            throw Failure(description: "expected an ack of heartbeat 1 for firmware \(firmware), got \(probe.lastText)")
        }
        return (hello, rtt, Double(ack - t0) / 1e9)
    }

    /// Turns a connection's callbacks into one signal per event, with its arrival time.
    final class Probe: WSConnectionDelegate, @unchecked Sendable {  // the `_` fields are protected by `lock`
        let events = DispatchSemaphore(value: 0)
        let closed = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var _lastAt: UInt64 = 0
        private var _lastText = ""
        private var _failure: String?

        var lastAt: UInt64 { lock.lock(); defer { lock.unlock() }; return _lastAt }
        var lastText: String { lock.lock(); defer { lock.unlock() }; return _lastText }
        var failure: String? { lock.lock(); defer { lock.unlock() }; return _failure }

        private func signal(_ text: String? = nil) {
            lock.lock()
            _lastAt = DispatchTime.now().uptimeNanoseconds
            if let text { _lastText = text }
            lock.unlock()
            events.signal()
        }

        func webSocketDidOpen(_ connection: WSConnection) { signal() }
        func webSocket(_ connection: WSConnection, didReceiveText text: String) { signal(text) }
        func webSocket(_ connection: WSConnection, didReceivePong data: ByteBuffer) { signal() }
        func webSocket(_ connection: WSConnection, didCloseWith cause: WSCloseCause, timings: WSTimings) {
            lock.lock()
            if _failure == nil { _failure = "connection closed: \(cause)" }
            lock.unlock()
            closed.signal()
            events.signal()
        }
    }
}
