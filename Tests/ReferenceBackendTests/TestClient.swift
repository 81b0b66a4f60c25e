import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOWebSocket

/// One event-loop thread for every test client.
let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

struct TestTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// An HTTP response as the test client read it.
struct HTTPResult: Sendable {
    var status: Int
    var headers: [String: String]   // lowercased names
    var body: String
}

/// What a WebSocket test client saw.
enum ClientEvent: Equatable, Sendable {
    case text(String)
    case binary
    case pong(String)
    case close(code: UInt16?, reason: String)
    case disconnected
}

/// A minimal WebSocket client for tests, on NIOWebSocket's frame coder: it writes the HTTP upgrade
/// (or any raw bytes) by hand, so tests can also send what a real client never would.
final class TestConnection: @unchecked Sendable {
    let channel: Channel
    private let handler: RawClientHandler

    private init(channel: Channel, handler: RawClientHandler) {
        self.channel = channel
        self.handler = handler
    }

    static func open(port: Int, host: String = "127.0.0.1") async throws -> TestConnection {
        let handler = RawClientHandler()
        let channel = try await ClientBootstrap(group: clientGroup)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(host: host, port: port).get()
        return TestConnection(channel: channel, handler: handler)
    }

    /// Opens a connection and asks for a WebSocket upgrade. Returns the upgraded connection, or the
    /// HTTP response when the server refused.
    static func upgrade(port: Int, path: String = "/device", headers: [String: String] = [:]) async throws
        -> (TestConnection?, HTTPResult)
    {
        let c = try await open(port: port)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        request += "\r\n"
        try await c.sendRaw(request)
        let response = try await c.response()
        return (response.status == 101 ? c : nil, response)
    }

    /// One plain HTTP request on a fresh connection (`Connection: close`).
    static func http(port: Int, method: String = "GET", path: String, headers: [String: String] = [:],
                     body: String = "") async throws -> HTTPResult {
        let c = try await open(port: port)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        request += "\r\n" + body
        try await c.sendRaw(request)
        let r = try await c.response()
        c.channel.close(promise: nil)
        return r
    }

    /// Connects and completes hello → welcome. Fails the test if anything else happens.
    static func device(port: Int, uuid: String, firmware: String) async throws -> TestConnection {
        let (c, r) = try await upgrade(port: port)
        guard let c else { throw TestTimeout(what: "upgrade (got HTTP \(r.status))") }
        try await c.send(text: "{\"type\":\"hello\",\"uuid\":\"\(uuid)\",\"firmware\":\"\(firmware)\"}")
        let e = try await c.next()
        guard e == .text("{\"type\":\"welcome\"}") else { throw TestTimeout(what: "welcome (got \(e))") }
        return c
    }

    func sendRaw(_ text: String) async throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await channel.writeAndFlush(buffer).get()
    }

    func response(timeout: TimeAmount = .seconds(10)) async throws -> HTTPResult {
        try await handler.response(on: channel.eventLoop, timeout: timeout).get()
    }

    func send(text: String) async throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await send(frame: WebSocketFrame(fin: true, opcode: .text, data: buffer))
    }

    func send(frame: WebSocketFrame, masked: Bool = true) async throws {
        var frame = frame
        if masked { frame.maskKey = WebSocketMaskingKey([1, 2, 3, 4]) }
        try await channel.writeAndFlush(frame).get()
    }

    func send(opcode: WebSocketOpcode, bytes: [UInt8], fin: Bool = true) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await send(frame: WebSocketFrame(fin: fin, opcode: opcode, data: buffer))
    }

    /// The next thing the server did.
    func next(timeout: TimeAmount = .seconds(10)) async throws -> ClientEvent {
        try await handler.nextEvent(on: channel.eventLoop, timeout: timeout).get()
    }

    /// Waits for a close frame and returns its code (skipping nothing: any other event fails).
    func closeCode(timeout: TimeAmount = .seconds(10)) async throws -> UInt16? {
        let e = try await next(timeout: timeout)
        guard case .close(let code, _) = e else { throw TestTimeout(what: "close frame (got \(e))") }
        return code
    }

    func close() { channel.close(promise: nil) }
}

/// Reads an HTTP response by hand; on 101 switches the pipeline to WebSocket frames.
private final class RawClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var buffer = ByteBuffer()
    private var upgraded = false
    private var result: HTTPResult?
    private var responseWaiter: EventLoopPromise<HTTPResult>?
    private var events: [ClientEvent] = []
    private var eventWaiters: [EventLoopPromise<ClientEvent>] = []
    private var inactive = false
    fileprivate var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if upgraded { context.fireChannelRead(data); return }
        buffer.writeBuffer(&chunk)
        parse(context: context)
    }

    private func parse(context: ChannelHandlerContext) {
        let view = buffer.readableBytesView
        guard let end = findHeaderEnd(Array(view)) else { return }
        let headText = String(decoding: view.prefix(end), as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
        var headers: [String: String] = [:]
        for line in lines where !line.isEmpty {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        if status == 101 {
            buffer.moveReaderIndex(forwardBy: end + 4)
            upgraded = true
            let collector = FrameCollector(owner: self)
            try! context.pipeline.syncOperations.addHandler(WebSocketFrameEncoder(), position: .first)
            try! context.pipeline.syncOperations.addHandlers(
                [ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)), collector], position: .after(self))
            deliver(HTTPResult(status: status, headers: headers, body: ""))
            if buffer.readableBytes > 0 {
                let rest = buffer
                buffer.clear()
                context.fireChannelRead(wrapInboundOut(rest))
            }
            return
        }
        let length = Int(headers["content-length"] ?? "") ?? 0
        guard view.count >= end + 4 + length else { return }
        let body = String(decoding: view.dropFirst(end + 4).prefix(length), as: UTF8.self)
        buffer.moveReaderIndex(forwardBy: end + 4 + length)
        deliver(HTTPResult(status: status, headers: headers, body: body))
    }

    private func findHeaderEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func deliver(_ r: HTTPResult) {
        if let w = responseWaiter { responseWaiter = nil; w.succeed(r) } else { result = r }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        if let w = responseWaiter { responseWaiter = nil; w.succeed(HTTPResult(status: 0, headers: [:], body: "")) }
        push(.disconnected)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    fileprivate func push(_ e: ClientEvent) {
        if !eventWaiters.isEmpty { eventWaiters.removeFirst().succeed(e) } else { events.append(e) }
    }

    func response(on loop: EventLoop, timeout: TimeAmount) -> EventLoopFuture<HTTPResult> {
        loop.flatSubmit {
            if let r = self.result { self.result = nil; return loop.makeSucceededFuture(r) }
            if self.inactive { return loop.makeSucceededFuture(HTTPResult(status: 0, headers: [:], body: "")) }
            let p = loop.makePromise(of: HTTPResult.self)
            self.responseWaiter = p
            loop.scheduleTask(in: timeout) {
                if self.responseWaiter?.futureResult === p.futureResult { self.responseWaiter = nil; p.fail(TestTimeout(what: "HTTP response")) }
            }
            return p.futureResult
        }
    }

    func nextEvent(on loop: EventLoop, timeout: TimeAmount) -> EventLoopFuture<ClientEvent> {
        loop.flatSubmit {
            if !self.events.isEmpty { return loop.makeSucceededFuture(self.events.removeFirst()) }
            if self.inactive { return loop.makeSucceededFuture(.disconnected) }
            let p = loop.makePromise(of: ClientEvent.self)
            self.eventWaiters.append(p)
            loop.scheduleTask(in: timeout) {
                if let i = self.eventWaiters.firstIndex(where: { $0.futureResult === p.futureResult }) {
                    self.eventWaiters.remove(at: i)
                    p.fail(TestTimeout(what: "a WebSocket event"))
                }
            }
            return p.futureResult
        }
    }
}

private final class FrameCollector: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    private let owner: RawClientHandler
    init(owner: RawClientHandler) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var payload = frame.unmaskedData
        switch frame.opcode {
        case .text: owner.push(.text(payload.readString(length: payload.readableBytes) ?? ""))
        case .binary: owner.push(.binary)
        case .pong: owner.push(.pong(payload.readString(length: payload.readableBytes) ?? ""))
        case .connectionClose:
            let code = payload.readInteger(as: UInt16.self)
            owner.push(.close(code: code, reason: payload.readString(length: payload.readableBytes) ?? ""))
        default: break
        }
    }
}
