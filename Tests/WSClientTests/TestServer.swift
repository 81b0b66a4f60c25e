import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
@testable import WSClient

#if canImport(Glibc)
import Glibc
#endif

/// What the scripted server does with an upgrade request.
enum UpgradeReply {
    /// 101 with these extra headers; `trailing` bytes go in the same write as the response.
    case accept(headers: [(String, String)] = [], trailing: [UInt8] = [])
    /// Write this raw response and close.
    case respond(String)
    /// Never answer.
    case silent
}

/// The request head as the server saw it.
struct ServerRequest: Sendable {
    var requestLine: String
    var headers: [(String, String)]
    var remoteAddress: SocketAddress?

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A frame the server received from the client.
struct ReceivedFrame: Sendable {
    var fin: Bool
    var rsv1: Bool
    var opcode: WebSocketOpcode
    var masked: Bool
    var payload: [UInt8]
}

/// The server's view of one connection, used by scripts on the server's event loop.
final class ServerConnection: @unchecked Sendable {
    let context: ChannelHandlerContext
    let request: ServerRequest
    var deflate: DeflateCodec?
    /// Fragments of the message being received.
    var partial: [UInt8] = []
    var partialOpcode: WebSocketOpcode = .text
    var partialCompressed = false

    init(context: ChannelHandlerContext, request: ServerRequest) {
        self.context = context
        self.request = request
    }

    /// Writes a server frame (unmasked).
    func send(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, flush: Bool = true) {
        sendRaw(serverFrame(opcode, payload, fin: fin, rsv: rsv), flush: flush)
    }

    func sendText(_ s: String) { send(0x1, Array(s.utf8)) }

    /// Sends a message compressed with permessage-deflate.
    func sendCompressed(_ opcode: UInt8, _ payload: [UInt8]) {
        let out = deflate!.compress(ByteBuffer(bytes: payload), allocator: .init())
        send(opcode, Array(out.readableBytesView), rsv: 0x4)
    }

    func sendRaw(_ bytes: [UInt8], flush: Bool = true) {
        let buffer = context.channel.allocator.buffer(bytes: bytes)
        if flush { context.writeAndFlush(NIOAny(buffer), promise: nil) } else { context.write(NIOAny(buffer), promise: nil) }
    }

    func close() { context.close(promise: nil) }

    /// Closes with SO_LINGER 0 so the client sees a TCP reset.
    func reset() {
        let linger = linger(l_onoff: 1, l_linger: 0)
        _ = (context.channel as? SocketOptionProvider)?.unsafeSetSocketOption(level: .socket, name: .so_linger, value: linger)
        context.close(promise: nil)
    }
}

/// An unmasked frame as a server writes it.
func serverFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
    if payload.count < 126 {
        out.append(UInt8(payload.count))
    } else if payload.count <= 0xFFFF {
        out.append(126); out.append(UInt8(payload.count >> 8)); out.append(UInt8(payload.count & 0xFF))
    } else {
        out.append(127)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: payload.count >> shift)) }
    }
    return out + payload
}

func closePayload(_ code: UInt16, _ reason: String = "") -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
}

/// Script hooks. Defaults: accept, and echo every data message (re-compressing if negotiated),
/// answer pings, answer a Close and close TCP.
struct ServerScript: @unchecked Sendable {
    var onRequest: (ServerRequest) -> UpgradeReply = { _ in .accept() }
    var onOpen: (ServerConnection) -> Void = { _ in }
    /// Called for each frame; return true when handled (skips the default behaviour).
    var onFrame: (ServerConnection, ReceivedFrame) -> Bool = { _, _ in false }
    /// Called for each complete data message after the default echo was skipped or done.
    var echo = true
    /// Negotiate permessage-deflate when the client offers it (server_no_context_takeover etc. as asked).
    var acceptDeflate = false
    /// Answer `client_max_window_bits=N` when the client offered the parameter.
    var clientWindowBits: Int? = nil
    /// Impose client_no_context_takeover even if not offered.
    var forceClientNoContextTakeover = false
}

/// Everything the server observed, for assertions.
final class ServerLog: @unchecked Sendable {
    private let lock = NIOLock()
    private var _requests: [ServerRequest] = []
    private var _frames: [ReceivedFrame] = []
    private var _messages: [(WebSocketOpcode, [UInt8])] = []
    private var _clientClosedTCP = 0

    func add(_ r: ServerRequest) { lock.withLock { _requests.append(r) } }
    func add(_ f: ReceivedFrame) { lock.withLock { _frames.append(f) } }
    func addMessage(_ op: WebSocketOpcode, _ bytes: [UInt8]) { lock.withLock { _messages.append((op, bytes)) } }
    var requests: [ServerRequest] { lock.withLock { _requests } }
    var frames: [ReceivedFrame] { lock.withLock { _frames } }
    var messages: [(WebSocketOpcode, [UInt8])] { lock.withLock { _messages } }
    var closeFrames: [ReceivedFrame] { frames.filter { $0.opcode == .connectionClose } }
    /// The code in the first Close frame the client sent, if any.
    var clientCloseCode: UInt16? {
        guard let f = closeFrames.first else { return nil }
        return f.payload.count >= 2 ? UInt16(f.payload[0]) << 8 | UInt16(f.payload[1]) : 1005
    }
}

/// An in-process WebSocket server on loopback whose behaviour each test scripts.
final class TestServer: @unchecked Sendable {
    let channel: Channel
    let log = ServerLog()
    let connections = NIOLockedValueBox<[ServerConnection]>([])
    var port: Int { channel.localAddress!.port! }
    let secure: Bool

    init(script: ServerScript = ServerScript(), tls: NIOSSLContext? = nil, host: String = "127.0.0.1") throws {
        let log = self.log
        let connections = self.connections
        var script = script
        let userOnOpen = script.onOpen
        script.onOpen = { c in
            connections.withLockedValue { $0.append(c) }
            userOnOpen(c)
        }
        self.secure = tls != nil
        let finalScript = script
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                do {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(script: finalScript, log: log))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: 0).wait()
    }

    /// A resolved endpoint for this server.
    func endpoint(path: String = "/device", host: String = "127.0.0.1") -> WSEndpoint {
        var e = try! WSEndpoint(url: "\(secure ? "wss" : "ws")://\(host):\(port)\(path)")
        e.address = try! SocketAddress(ipAddress: "127.0.0.1", port: port)
        return e
    }

    /// Sends Close(1000) on every open server connection.
    func closeAllWith1000() {
        let all = connections.withLockedValue { $0 }
        for c in all {
            c.context.eventLoop.execute { c.send(0x8, closePayload(1000)) }
        }
    }

    func stop() {
        try? channel.close().wait()
    }
}

/// Reads the HTTP upgrade request, answers per script, then passes bytes to the frame decoder.
final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let script: ServerScript
    let log: ServerLog
    var buffer = ByteBuffer()
    var upgraded = false

    init(script: ServerScript, log: ServerLog) {
        self.script = script
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if upgraded { context.fireChannelRead(data); return }
        buffer.writeBuffer(&bytes)
        let view = Array(buffer.readableBytesView)
        guard let end = findHeadEnd(view) else { return }
        let head = String(decoding: view[..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst()
        let headers = lines.compactMap { line -> (String, String)? in
            guard let c = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: " "))
        }
        let request = ServerRequest(requestLine: requestLine, headers: headers, remoteAddress: context.channel.remoteAddress)
        log.add(request)
        buffer.moveReaderIndex(forwardBy: end + 4)
        switch script.onRequest(request) {
        case .silent:
            return
        case .respond(let raw):
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: raw))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case .accept(let extra, let trailing):
            let key = request.header("sec-websocket-key") ?? ""
            let accept = Base64.encode(SHA1.hash(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
            var response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n"
            var deflate: DeflateCodec? = nil
            if script.acceptDeflate, let offers = request.header("sec-websocket-extensions"),
               let offer = offers.split(separator: ",").first, offer.contains("permessage-deflate") {
                let params = offer.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                func value(_ name: String) -> String? {
                    params.first { $0.hasPrefix(name) }.map { $0.split(separator: "=").dropFirst().first.map(String.init) ?? "" }
                }
                let clientNCT = value("client_no_context_takeover") != nil || script.forceClientNoContextTakeover
                let serverNCT = value("server_no_context_takeover") != nil
                let serverBits = value("server_max_window_bits").flatMap { Int($0) } ?? 15
                var clientBits = 15
                var answer = "permessage-deflate"
                if serverNCT { answer += "; server_no_context_takeover" }
                if clientNCT { answer += "; client_no_context_takeover" }
                if value("server_max_window_bits") != nil { answer += "; server_max_window_bits=\(serverBits)" }
                if let bits = script.clientWindowBits, value("client_max_window_bits") != nil {
                    clientBits = bits
                    answer += "; client_max_window_bits=\(bits)"
                }
                response += "Sec-WebSocket-Extensions: \(answer)\r\n"
                // Server side: "client" fields of the codec describe what this end sends.
                deflate = DeflateCodec(parameters: DeflateParameters(
                    serverNoContextTakeover: clientNCT, clientNoContextTakeover: serverNCT,
                    serverMaxWindowBits: clientBits, clientMaxWindowBits: serverBits))
            }
            for (n, v) in extra { response += "\(n): \(v)\r\n" }
            response += "\r\n"
            var out = context.channel.allocator.buffer(string: response)
            out.writeBytes(trailing)
            upgraded = true
            let connection = ServerConnection(context: context, request: request)
            connection.deflate = deflate
            let frameHandler = FrameHandler(script: script, log: log, connection: connection)
            try! context.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 25)))
            try! context.pipeline.syncOperations.addHandler(frameHandler)
            context.writeAndFlush(NIOAny(out), promise: nil)
            script.onOpen(connection)
            if buffer.readableBytes > 0 {
                let rest = buffer
                buffer = ByteBuffer()
                context.fireChannelRead(NIOAny(rest))
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func findHeadEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        return nil
    }
}

/// Handles decoded client frames: logs them, applies the script, and by default echoes.
final class FrameHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    let script: ServerScript
    let log: ServerLog
    let connection: ServerConnection
    var closeSent = false

    init(script: ServerScript, log: ServerLog, connection: ServerConnection) {
        self.script = script
        self.log = log
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let received = ReceivedFrame(fin: frame.fin, rsv1: frame.rsv1, opcode: frame.opcode, masked: frame.maskKey != nil,
                                     payload: Array(frame.unmaskedData.readableBytesView))
        log.add(received)
        if script.onFrame(connection, received) { return }
        switch received.opcode {
        case .ping:
            connection.send(0xA, received.payload)
        case .connectionClose:
            if !closeSent {
                closeSent = true
                let code = received.payload.count >= 2 ? Array(received.payload.prefix(2)) : []
                connection.send(0x8, code)
            }
            context.close(promise: nil)
        case .text, .binary, .continuation:
            if received.opcode != .continuation {
                connection.partial = []
                connection.partialOpcode = received.opcode
                connection.partialCompressed = received.rsv1
            }
            connection.partial += received.payload
            guard received.fin else { return }
            var message = connection.partial
            if connection.partialCompressed, let d = connection.deflate {
                message = Array(try! d.decompress(ByteBuffer(bytes: message), limit: 1 << 26, allocator: .init()).readableBytesView)
            }
            log.addMessage(connection.partialOpcode, message)
            if script.echo {
                let op: UInt8 = connection.partialOpcode == .text ? 0x1 : 0x2
                if connection.deflate != nil { connection.sendCompressed(op, message) } else { connection.send(op, message) }
            }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
