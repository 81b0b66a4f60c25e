import DeviceModel
import Foundation
import LoadReport
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// `fleetsim run --metrics-listen HOST:PORT`: the run's own metrics in Prometheus text format while
/// it runs, so that a team watches a long run in the Grafana it has (`deploy/grafana/`). Every
/// series carries the run's `shard` label (`0/1` for a whole fleet), so the shards of one fleet
/// never write the same series and sum correctly.
///
/// The coordinator renders the page about once a second (`update`); the server, on a thread of
/// its own, answers `GET /metrics` with the last page. Nothing here touches the devices' loops.
public final class MetricsEndpoint: Sendable {
    /// What one page shows: the coordinator's view of the run now.
    public struct Snapshot: Sendable {
        public var shard: String
        public var scenario: String
        public var scenarioS: Double
        public var census: (online: Int, connecting: Int, backingOff: Int, gaveUp: Int, notJoined: Int)
        public var counters: Recorder.Counters
        public var causes: CauseCounts
        public var handshakes: LatencyRecorder
    }

    /// Handshake histogram bounds, seconds of scenario time.
    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    private let page = NIOLockedValueBox("")
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    /// The address bound (the port the system chose, when asked for port 0).
    public let address: String

    /// Binds `host:port`; throws a one-line reason.
    public init(listen: String) throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw LiveRunner.Failure(description: "--metrics-listen: expected HOST:PORT, like 127.0.0.1:9464, got \"\(listen)\"")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let page = self.page
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(page: page))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw LiveRunner.Failure(description: "--metrics-listen \(listen): cannot listen: \(error)")
        }
        let bound = channel.localAddress?.port ?? port
        address = (host.contains(":") ? "[\(host)]" : host) + ":\(bound)"
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Renders `s` as the page the next scrape gets.
    public func update(_ s: Snapshot) { page.withLockedValue { $0 = Self.render(s) } }

    static func render(_ s: Snapshot) -> String {
        let shard = "shard=\"\(escape(s.shard))\""
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ value: Double, labels: String = "") {
            let all = labels.isEmpty ? shard : shard + "," + labels
            out += "\(name){\(all)} \(format(value))\n"
        }
        family("fleetsim_run_info", "gauge", "The run: its scenario (value always 1).")
        sample("fleetsim_run_info", 1, labels: "scenario=\"\(escape(s.scenario))\"")
        family("fleetsim_scenario_time_seconds", "gauge", "Scenario time reached.")
        sample("fleetsim_scenario_time_seconds", s.scenarioS)
        family("fleetsim_devices", "gauge", "This shard's devices by state.")
        for (state, n) in [("online", s.census.online), ("connecting", s.census.connecting), ("backing_off", s.census.backingOff),
                           ("gave_up", s.census.gaveUp), ("not_joined", s.census.notJoined)] {
            sample("fleetsim_devices", Double(n), labels: "state=\"\(state)\"")
        }
        let c = s.counters
        for (name, help, value) in [
            ("fleetsim_connect_attempts_total", "Connect attempts begun.", c.connectAttempts),
            ("fleetsim_connects_total", "Devices that came online (welcomed).", c.connects),
            ("fleetsim_rejects_total", "Connects the backend refused (an HTTP status at upgrade, or a reject message).", c.rejects),
            ("fleetsim_handshake_timeouts_total", "Connects given up at the device's handshake timeout.", c.handshakeTimeouts),
            ("fleetsim_ack_timeouts_total", "Sessions ended at the device's heartbeat-ack timeout.", c.ackTimeouts),
        ] {
            family(name, "counter", help)
            sample(name, Double(value))
        }
        family("fleetsim_disconnects_total", "counter", "Online sessions lost, by cause (close code, reset, eof, timeout kind, session end, drop).")
        for (cause, n) in s.causes.disconnects.sorted(by: { $0.key < $1.key }) {
            sample("fleetsim_disconnects_total", Double(n), labels: "cause=\"\(escape(cause))\"")
        }
        family("fleetsim_failed_connects_total", "counter", "Connect attempts that did not bring the device online, by cause (HTTP status, rejected, timeout kind, dns, refused).")
        for (cause, n) in s.causes.failedConnects.sorted(by: { $0.key < $1.key }) {
            sample("fleetsim_failed_connects_total", Double(n), labels: "cause=\"\(escape(cause))\"")
        }
        let name = "fleetsim_handshake_duration_seconds"
        family(name, "histogram", "Connect start to welcome, seconds of scenario time.")
        let cumulative = s.handshakes.cumulativeCounts(atMostUs: bounds.map { UInt64($0 * 1e6) })
        for (le, n) in zip(bounds, cumulative) { sample(name + "_bucket", Double(n), labels: "le=\"\(format(le))\"") }
        sample(name + "_bucket", Double(s.handshakes.count), labels: "le=\"+Inf\"")
        sample(name + "_sum", Double(s.handshakes.sumUs) / 1e6)
        sample(name + "_count", Double(s.handshakes.count))
        return out
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Answers `GET /metrics` with the last page, anything else with 404.
private final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let page: NIOLockedValueBox<String>
    init(page: NIOLockedValueBox<String>) { self.page = page }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let found = head.method == .GET && path == "/metrics"
        let body = found ? page.withLockedValue { $0 } : "not found: GET /metrics\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
