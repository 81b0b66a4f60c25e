import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import WSClient

/// Behaviour over real loopback sockets against the scripted in-process server.
@Suite(.tags(.network)) struct LoopbackTests {
    @Test func echoesTextAndBinaryWithMaskedFrames() async throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try makeClient()
        let d = RecordingDelegate()
        d.onOpen = { c in
            c.send(text: "héllo")
            c.send(binary: ByteBuffer(bytes: [0, 1, 2, 255]))
        }
        let c = client.connect(to: server.endpoint(), tag: 7, delegate: d)
        #expect(c.tag == 7)
        await eventually { d.texts.count == 1 && d.binaries.count == 1 }
        #expect(d.texts == ["héllo"])
        #expect(d.binaries == [[0, 1, 2, 255]])
        #expect(server.log.frames.allSatisfy { $0.masked })
        let request = try #require(server.log.requests.first)
        #expect(request.requestLine == "GET /device HTTP/1.1")
        #expect(request.header("host") == "127.0.0.1:\(server.port)")
        #expect(request.header("sec-websocket-version") == "13")
        c.close()
        #expect(await d.closed() == .normal)
        let t = try #require(d.timings)
        #expect(t.tcpConnected != nil && t.upgraded != nil && t.firstMessage != nil && t.tlsDone == nil)
        #expect(t.upgraded! >= t.tcpConnected! && t.firstMessage! >= t.upgraded!)
        #expect(d.closeCount == 1)
    }

    @Test func aFrameInTheSameSegmentAsThe101IsDelivered() async throws {
        var script = ServerScript()
        script.onRequest = { _ in .accept(trailing: serverFrame(0x1, Array("welcome".utf8))) }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient().connect(to: server.endpoint(), delegate: d)
        await eventually { !d.texts.isEmpty }
        #expect(d.texts == ["welcome"])
    }

    @Test func headersAndSubprotocolAreNegotiated() async throws {
        var script = ServerScript()
        script.onRequest = { _ in .accept(headers: [("Sec-WebSocket-Protocol", "device.v2")]) }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let client = try makeClient {
            $0.subprotocols = ["device.v3", "device.v2"]
            $0.headers = [(name: "Authorization", value: "Bearer t0k")]
        }
        let d = RecordingDelegate()
        client.connect(to: server.endpoint(), headers: [(name: "X-Device", value: "42")], delegate: d)
        await eventually { d.opened }
        #expect(d.subprotocol == "device.v2")
        let r = try #require(server.log.requests.first)
        #expect(r.header("sec-websocket-protocol") == "device.v3, device.v2")
        #expect(r.header("authorization") == "Bearer t0k")
        #expect(r.header("x-device") == "42")
    }

    @Test func aSubprotocolThatWasNotOfferedFailsTheUpgrade() async throws {
        var script = ServerScript()
        script.onRequest = { _ in .accept(headers: [("Sec-WebSocket-Protocol", "other")]) }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient { $0.subprotocols = ["device.v3"] }.connect(to: server.endpoint(), delegate: d)
        guard case .protocolViolation(let m) = await d.closed() else { Issue.record("\(String(describing: d.cause))"); return }
        #expect(m.contains("subprotocol"))
        #expect(!d.opened)
    }

    @Test func aWrongAcceptKeyFailsTheUpgrade() async throws {
        var script = ServerScript()
        script.onRequest = { _ in
            .respond("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n")
        }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient().connect(to: server.endpoint(), delegate: d)
        guard case .protocolViolation(let m) = await d.closed() else { Issue.record("\(String(describing: d.cause))"); return }
        #expect(m.contains("Accept"))
    }

    @Test func fragmentedMessagesAreReassembledAroundAPing() async throws {
        var script = ServerScript()
        script.onOpen = { s in
            s.send(0x1, Array("frag".utf8), fin: false)
            s.send(0x9, Array("mid".utf8))
            s.send(0x0, Array("men".utf8), fin: false)
            s.send(0x0, Array("ted ✓".utf8), fin: true)
            s.send(0x2, [1, 2], fin: false)
            s.send(0x0, [3], fin: true)
        }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient().connect(to: server.endpoint(), delegate: d)
        await eventually { d.texts.count == 1 && d.binaries.count == 1 }
        #expect(d.texts == ["fragmented ✓"])
        #expect(d.binaries == [[1, 2, 3]])
        await eventually { server.log.frames.contains { $0.opcode == .pong } }
        #expect(server.log.frames.first { $0.opcode == .pong }?.payload == Array("mid".utf8))
    }

    @Test func clientHeartbeatPingsAndFailsWhenPongsStop() async throws {
        var answering = ServerScript()
        answering.echo = false
        let good = try TestServer(script: answering)
        defer { good.stop() }
        var silent = ServerScript()
        silent.onFrame = { _, f in f.opcode == .ping }  // swallow pings
        let bad = try TestServer(script: silent)
        defer { bad.stop() }
        // Generous pong deadline for the answering server (the test process may be busy), a short
        // one for the silent server.
        let patient = try makeClient {
            $0.pingInterval = .milliseconds(40)
            $0.pongTimeout = .seconds(5)
        }
        let strict = try makeClient {
            $0.pingInterval = .milliseconds(40)
            $0.pongTimeout = .milliseconds(150)
        }
        let ok = RecordingDelegate()
        let dead = RecordingDelegate()
        let c = patient.connect(to: good.endpoint(), delegate: ok)
        strict.connect(to: bad.endpoint(), delegate: dead)
        #expect(await dead.closed() == .timeout(.pong))
        await eventually { ok.pongs.count >= 3 }
        #expect(ok.pongs.count >= 3)
        #expect(ok.cause == nil)
        c.close()
        #expect(await ok.closed() == .normal)
    }

    @Test func clientCloseSendsCodeAndReasonAndServerClosesTCP() async throws {
        let server = try TestServer()
        defer { server.stop() }
        let d = RecordingDelegate()
        d.onOpen = { $0.close(code: 4000, reason: "bye") }
        try makeClient().connect(to: server.endpoint(), delegate: d)
        #expect(await d.closed() == .normal)
        let close = try #require(server.log.closeFrames.first)
        #expect(close.payload == closePayload(4000, "bye"))
    }

    @Test func serverCloseIsEchoedAndReportedWithCodeAndReason() async throws {
        var script = ServerScript()
        script.onOpen = { s in s.send(0x8, closePayload(1013, "try again later")) }
        script.onFrame = { s, f in
            if f.opcode == .connectionClose { s.close(); return true }
            return false
        }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient().connect(to: server.endpoint(), delegate: d)
        #expect(await d.closed() == .closed(code: 1013, reason: "try again later"))
        #expect(server.log.clientCloseCode == 1013)
    }

    @Test func aCloseTimeoutEndsAConnectionWhoseServerNeverAnswers() async throws {
        var script = ServerScript()
        script.onFrame = { _, f in f.opcode == .connectionClose }  // ignore the Close
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        d.onOpen = { $0.close() }
        try makeClient { $0.closeTimeout = .milliseconds(200) }.connect(to: server.endpoint(), delegate: d)
        #expect(await d.closed() == .timeout(.close))
    }

    @Test func aServerThatNeverAnswersTheUpgradeHitsTheDeadline() async throws {
        var script = ServerScript()
        script.onRequest = { _ in .silent }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient { $0.upgradeTimeout = .milliseconds(200) }.connect(to: server.endpoint(), delegate: d)
        #expect(await d.closed() == .timeout(.upgrade))
        #expect(d.timings?.tcpConnected != nil && d.timings?.upgraded == nil)
    }

    @Test func status503CarriesRetryAfterAnd403IsReported() async throws {
        var s503 = ServerScript()
        s503.onRequest = { _ in .respond("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n") }
        var s403 = ServerScript()
        s403.onRequest = { _ in .respond("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden") }
        let a = try TestServer(script: s503)
        let b = try TestServer(script: s403)
        defer { a.stop(); b.stop() }
        let client = try makeClient()
        let da = RecordingDelegate(), db = RecordingDelegate()
        client.connect(to: a.endpoint(), delegate: da)
        client.connect(to: b.endpoint(), delegate: db)
        #expect(await da.closed() == .http(status: 503, retryAfter: "30"))
        #expect(await db.closed() == .http(status: 403, retryAfter: nil))
    }

    @Test func anOversizedMessageClosesWith1009() async throws {
        var single = ServerScript()
        single.onOpen = { s in s.send(0x2, [UInt8](repeating: 7, count: 2000)) }
        var fragmented = ServerScript()
        fragmented.onOpen = { s in
            for i in 0..<3 { s.send(i == 0 ? 0x2 : 0x0, [UInt8](repeating: 7, count: 600), fin: i == 2) }
        }
        let a = try TestServer(script: single)
        let b = try TestServer(script: fragmented)
        defer { a.stop(); b.stop() }
        let client = try makeClient { $0.maxMessageSize = 1024 }
        for server in [a, b] {
            let d = RecordingDelegate()
            client.connect(to: server.endpoint(), delegate: d)
            guard case .protocolViolation = await d.closed() else { Issue.record("\(String(describing: d.cause))"); continue }
            #expect(server.log.clientCloseCode == 1009)
            #expect(d.binaries.isEmpty)
        }
    }

    @Test func invalidUTF8ClosesWith1007() async throws {
        var script = ServerScript()
        script.onOpen = { s in s.send(0x1, [0x68, 0xC0, 0xAF]) }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient().connect(to: server.endpoint(), delegate: d)
        guard case .protocolViolation = await d.closed() else { Issue.record("\(String(describing: d.cause))"); return }
        #expect(server.log.clientCloseCode == 1007)
        #expect(d.texts.isEmpty)
    }

    @Test func aResetMidMessageIsReportedAsReset() async throws {
        var script = ServerScript()
        script.onOpen = { s in
            s.sendRaw(Array(serverFrame(0x2, [UInt8](repeating: 1, count: 1000)).prefix(300)))
            s.context.eventLoop.scheduleTask(in: .milliseconds(50)) { s.reset() }
        }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        try makeClient().connect(to: server.endpoint(), delegate: d)
        #expect(await d.closed() == .reset)
        #expect(d.binaries.isEmpty)
    }

    @Test func aClosedPortIsRefusedAndAnUnresolvedEndpointIsDNS() async throws {
        let server = try TestServer()
        let endpoint = server.endpoint()
        server.stop()
        let client = try makeClient()
        let d = RecordingDelegate()
        client.connect(to: endpoint, delegate: d)
        #expect(await d.closed() == .refused)
        var unresolved = try WSEndpoint(url: "ws://device-gateway.invalid/x")
        unresolved.address = nil
        let d2 = RecordingDelegate()
        client.connect(to: unresolved, delegate: d2)
        guard case .dns = await d2.closed() else { Issue.record("\(String(describing: d2.cause))"); return }
        await #expect(throws: WSResolveError.self) { try await client.resolve(unresolved).get() }
    }

    @Test func sourceAddressPoolSpreadsConnections() async throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try makeClient { $0.sourceAddresses = WSConfiguration.loopbackSources(2...3) }
        let delegates = (0..<4).map { _ in RecordingDelegate() }
        for d in delegates { client.connect(to: server.endpoint(), delegate: d) }
        await eventually { delegates.allSatisfy(\.opened) }
        let sources = Set(server.log.requests.compactMap { $0.remoteAddress?.ipAddress })
        #expect(sources == ["127.0.0.2", "127.0.0.3"])
    }

    @Test func permessageDeflateCompressesBothWays() async throws {
        var script = ServerScript()
        script.acceptDeflate = true
        script.onOpen = { s in s.sendCompressed(0x1, Array(String(repeating: "ack ", count: 100).utf8)) }
        let server = try TestServer(script: script)
        defer { server.stop() }
        let d = RecordingDelegate()
        d.onOpen = { $0.send(text: String(repeating: "heartbeat ", count: 50)) }
        try makeClient { $0.compression = WSCompression() }.connect(to: server.endpoint(), delegate: d)
        await eventually { d.texts.count == 2 }
        #expect(d.texts.first == String(repeating: "ack ", count: 100))
        #expect(d.texts.last == String(repeating: "heartbeat ", count: 50))
        let sent = try #require(server.log.frames.first { $0.opcode == .text })
        #expect(sent.rsv1)
        #expect(sent.payload.count < 100)
        #expect(server.log.requests.first?.header("sec-websocket-extensions")?.contains("permessage-deflate") == true)
    }

    @Test func aServerThatNeverSpeaksTLSHitsTheTLSDeadline() async throws {
        var script = ServerScript()
        script.onRequest = { _ in .silent }
        let server = try TestServer(script: script)  // plain TCP: the ClientHello goes unanswered
        defer { server.stop() }
        var endpoint = try WSEndpoint(url: "wss://localhost:\(server.port)/")
        endpoint.address = try SocketAddress(ipAddress: "127.0.0.1", port: server.port)
        let d = RecordingDelegate()
        try makeClient { $0.tlsTimeout = .milliseconds(200) }.connect(to: endpoint, delegate: d)
        #expect(await d.closed() == .timeout(.tls))
        #expect(d.timings?.tcpConnected != nil && d.timings?.tlsDone == nil)
    }

    @Test func aFullAcceptQueueHitsTheConnectDeadline() async throws {
        // A listener that never accepts, with its queue already full: further SYNs are dropped.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(bound == 0)
        #expect(listen(fd, 0) == 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        var endpoint = try WSEndpoint(url: "ws://127.0.0.1:\(port)/")
        endpoint.address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        let client = try makeClient { $0.connectTimeout = .milliseconds(300) }
        // Fill the queue (these may connect or stall; either way they occupy the backlog).
        let fillers = (0..<4).map { _ in RecordingDelegate() }
        for f in fillers { client.connect(to: endpoint, delegate: f) }
        try await Task.sleep(nanoseconds: 100_000_000)
        let d = RecordingDelegate()
        client.connect(to: endpoint, delegate: d)
        #expect(await d.closed() == .timeout(.connect))
        #expect(d.timings?.tcpConnected == nil)
    }

    @Test func repeatedResolutionReportsAddresses() async throws {
        let client = try makeClient()
        let results = NIOLockedValueBox<[Result<WSEndpoint, WSResolveError>]>([])
        let task = client.resolveRepeatedly(try WSEndpoint(url: "ws://localhost:8080/"), every: .milliseconds(20)) { r in
            results.withLockedValue { $0.append(r) }
        }
        await eventually { results.withLockedValue { $0.count } >= 2 }
        task.cancel()
        let first = try #require(results.withLockedValue { $0.first })
        let resolved = try first.get()
        #expect(resolved.address?.port == 8080)
    }
}
