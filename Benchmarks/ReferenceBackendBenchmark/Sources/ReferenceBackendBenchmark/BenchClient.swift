import Foundation
import NIOCore
import NIOPosix

/// A lean device client for load: writes the upgrade request and WebSocket frames by hand (masked,
/// small, unfragmented) and parses the server's unmasked text frames in place. One handler per
/// connection, no Task per connection.
final class BenchDevice: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase { case upgrading, awaitingWelcome, online, done }

    private let request: String
    private let hello: String
    private var buffer = ByteBuffer()
    private(set) var phase = Phase.upgrading
    var onWelcome: ((BenchDevice) -> Void)?
    var onAck: ((BenchDevice) -> Void)?
    var onFailure: ((BenchDevice, String) -> Void)?
    private var context: ChannelHandlerContext?
    var seq = 0

    init(port: Int, uuid: String, firmware: String) {
        request = "GET /device HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        hello = "{\"type\":\"hello\",\"uuid\":\"\(uuid)\",\"firmware\":\"\(firmware)\"}"
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if phase != .done { phase = .done; onFailure?(self, "disconnected") }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        buffer.writeBuffer(&chunk)
        if phase == .upgrading {
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: [13, 10, 13, 10]) else { return }
            let ok = view.starts(with: Array("HTTP/1.1 101".utf8))
            buffer.moveReaderIndex(to: end.upperBound)
            guard ok else { phase = .done; onFailure?(self, "upgrade refused"); context.close(promise: nil); return }
            phase = .awaitingWelcome
            sendText(hello)
        }
        while let (opcode, payload) = nextFrame() {
            if opcode == 0x8 {
                if phase != .done { phase = .done; onFailure?(self, "closed by server") }
                context.close(promise: nil)
                return
            }
            guard opcode == 0x1 else { continue }
            switch phase {
            case .awaitingWelcome:
                guard payload.contains("welcome") else { continue }
                phase = .online
                onWelcome?(self)
            case .online:
                onAck?(self)
            default: break
            }
        }
        buffer.discardReadBytes()
    }

    private func nextFrame() -> (UInt8, String)? {
        guard buffer.readableBytes >= 2 else { return nil }
        let b0 = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
        let b1 = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)! & 0x7F
        var header = 2, length = Int(b1)
        if b1 == 126 {
            guard buffer.readableBytes >= 4 else { return nil }
            length = Int(buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self)!)
            header = 4
        }
        guard buffer.readableBytes >= header + length else { return nil }
        buffer.moveReaderIndex(forwardBy: header)
        let payload = buffer.readString(length: length) ?? ""
        return (b0 & 0x0F, payload)
    }

    /// Sends a masked text frame (mask key 0: valid, and the payload needs no transformation).
    func sendText(_ text: String) {
        guard let context else { return }
        let count = text.utf8.count
        var out = context.channel.allocator.buffer(capacity: count + 8)
        out.writeInteger(UInt8(0x81))
        if count < 126 {
            out.writeInteger(UInt8(0x80 | count))
        } else {
            out.writeInteger(UInt8(0x80 | 126)); out.writeInteger(UInt16(count))
        }
        out.writeInteger(UInt32(0))
        out.writeString(text)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func heartbeat() {
        seq += 1
        sendText("{\"type\":\"heartbeat\",\"seq\":\(seq)}")
    }

    /// Close frame (1000); the server answers and closes TCP, so TIME_WAIT stays on its side.
    func closeGracefully() {
        guard let context else { return }
        phase = .done
        var out = context.channel.allocator.buffer(capacity: 8)
        out.writeInteger(UInt8(0x88)); out.writeInteger(UInt8(0x82)); out.writeInteger(UInt32(0)); out.writeInteger(UInt16(1000))
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }
}
