#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// A lightweight loopback echo server for the benchmarks, built on NIO's own server upgrader and
/// frame codec. With `deflate`, it accepts permessage-deflate with no context takeover both ways
/// and echoes compressed payloads as they came (valid, since neither side keeps context).
enum EchoServer {
    static func run(port: Int, threads: Int, deflate: Bool, certFile: String?, keyFile: String?, reusePort: Bool) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var tls: NIOSSLContext? = nil
        if let certFile, let keyFile {
            let config = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
            tls = try NIOSSLContext(configuration: config)
        }
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 20,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                var headers = HTTPHeaders()
                if deflate, let offer = head.headers.first(name: "Sec-WebSocket-Extensions"), offer.contains("permessage-deflate") {
                    headers.add(name: "Sec-WebSocket-Extensions",
                                value: "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            })
        try serve(group: group, port: port, reusePort: reusePort, label: "") { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                }
            }.flatMap {
                channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            }
        }
    }

    /// Listens on 127.0.0.1:`port` with the benchmarks' socket options and serves until closed.
    static func serve(group: EventLoopGroup, port: Int, reusePort: Bool, label: String,
                      child: @escaping @Sendable (Channel) -> EventLoopFuture<Void>) throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.Types.SocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_REUSEPORT)), value: reusePort ? 1 : 0)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer(child)
        let channel = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
        print("listening \(channel.localAddress!.port!)\(label)")
        try channel.closeFuture.wait()
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary, .continuation:
            let out = WebSocketFrame(fin: frame.fin, rsv1: frame.rsv1, opcode: frame.opcode, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readSlice(length: min(2, data.readableBytes)) ?? ByteBuffer()
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))).whenComplete { _ in
                context.close(promise: nil)
            }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
