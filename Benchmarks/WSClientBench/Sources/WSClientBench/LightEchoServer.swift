import Foundation
import NIOCore
import NIOPosix
import WSClient

#if canImport(Glibc)
import Glibc
#endif

/// The lightest WebSocket echo server NIO can run, for the `ws://` figures without extensions:
/// one handler on raw bytes, no HTTP codec and no pipeline change at the upgrade. The client's
/// figures are the client's either way (the server runs in another process), but on a 2-core
/// machine the server's CPU is taken from the client: the lighter the server, the closer the
/// measured rates come to what the client alone can do. Echoes text and binary frames, answers
/// pings, and answers a Close with a Close, then closes TCP.
enum LightEchoServer {
    static func run(port: Int, threads: Int, reusePort: Bool) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        try EchoServer.serve(group: group, port: port, reusePort: reusePort, label: " (light)") { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(LightEchoHandler()) }
        }
    }
}

final class LightEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var upgraded = false
    private var closing = false
    private var pending: ByteBuffer?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var earlier = pending {
            earlier.writeBuffer(&bytes)
            bytes = earlier
            pending = nil
        }
        if !upgraded {
            guard let end = Self.endOfHead(bytes) else { pending = bytes; return }
            guard let key = Self.header("sec-websocket-key", in: bytes.readableBytesView.prefix(end)) else {
                context.close(promise: nil)
                return
            }
            bytes.moveReaderIndex(forwardBy: end + 4)
            let accept = WSHandshake.accept(forKey: key)
            var reply = context.channel.allocator.buffer(capacity: 160)
            reply.writeString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n")
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
            upgraded = true
        }
        while !closing, let (b0, payload) = Self.nextFrame(&bytes) {
            let opcode = b0 & 0x0F
            switch opcode {
            case 0x0, 0x1, 0x2: send(b0, payload, context: context)
            case 0x9: send(0x8A, payload, context: context)             // ping → pong
            case 0x8:                                                   // close → close, then TCP
                closing = true
                send(0x88, payload.getSlice(at: payload.readerIndex, length: min(2, payload.readableBytes))!, context: context)
                context.close(promise: nil)
            default: break
            }
        }
        if bytes.readableBytes > 0 && !closing { pending = bytes }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func send(_ b0: UInt8, _ payload: ByteBuffer, context: ChannelHandlerContext) {
        var out = context.channel.allocator.buffer(capacity: payload.readableBytes + 10)
        out.writeInteger(b0)
        let n = payload.readableBytes
        if n < 126 {
            out.writeInteger(UInt8(n))
        } else if n <= 0xFFFF {
            out.writeInteger(UInt8(126))
            out.writeInteger(UInt16(n))
        } else {
            out.writeInteger(UInt8(127))
            out.writeInteger(UInt64(n))
        }
        var body = payload
        out.writeBuffer(&body)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    /// The offset of "\r\n\r\n", if the request head is complete.
    private static func endOfHead(_ buffer: ByteBuffer) -> Int? {
        let view = buffer.readableBytesView
        guard view.count >= 4 else { return nil }
        var i = view.startIndex
        while i + 3 < view.endIndex {
            if view[i] == 13 && view[i + 1] == 10 && view[i + 2] == 13 && view[i + 3] == 10 { return i - view.startIndex }
            i += 1
        }
        return nil
    }

    private static func header(_ name: String, in head: ByteBufferView.SubSequence) -> String? {
        let text = String(decoding: head, as: UTF8.self)
        for line in text.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// One masked client frame, unmasked: its first byte and payload; nil until complete.
    private static func nextFrame(_ buffer: inout ByteBuffer) -> (UInt8, ByteBuffer)? {
        let start = buffer.readerIndex
        guard let b0 = buffer.getInteger(at: start, as: UInt8.self),
              let b1 = buffer.getInteger(at: start + 1, as: UInt8.self) else { return nil }
        var offset = 2
        var length = Int(b1 & 0x7F)
        if length == 126 {
            guard let l = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = Int(l)
            offset = 4
        } else if length == 127 {
            guard let l = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            length = Int(l)
            offset = 10
        }
        let masked = b1 & 0x80 != 0
        let keyOffset = offset
        if masked { offset += 4 }
        guard buffer.readableBytes >= offset + length else { return nil }
        var payload = buffer.getSlice(at: start + offset, length: length)!
        if masked {
            let key = buffer.getBytes(at: start + keyOffset, length: 4)!
            payload.withUnsafeMutableReadableBytes { p in
                for i in 0..<p.count { p[i] ^= key[i & 3] }
            }
        }
        buffer.moveReaderIndex(forwardBy: offset + length)
        return (b0, payload)
    }
}
