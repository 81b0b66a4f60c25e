import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Why an upgrade to `/device` was refused before it happened; answered as plain HTTP.
enum UpgradeRejection {
    case blocked(firmware: String)
    case admission(cause: RejectCause, retryAfter: Int)
    /// The `http-errors` fault (`/admin/fault`): this status, with a Retry-After in whole seconds when given.
    case fault(status: Int, retryAfter: Int?)
}

/// Plain HTTP beside the WebSocket endpoint: `/metrics`, `/healthz`, `/admin/…`, and the answer to
/// an upgrade the backend refused (403, 503 with Retry-After, 400). Removed from the pipeline when
/// a connection upgrades.
final class HTTPRouteHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxBody = 64 * 1024

    private let core: BackendCore
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var bodyTooLarge = false
    private var completedRequests = 0
    private var timer: Scheduled<Void>?
    private var responding = false
    /// Removed by the upgrade: a timer that was already due in the same event-loop tick must not answer.
    private var removed = false
    /// Set by the upgrader's `shouldUpgrade` when it refuses; answered when the request ends.
    var upgradeRejection: UpgradeRejection?

    /// On the control port: no `/device` (it lives on the main port).
    private let controlOnly: Bool

    init(core: BackendCore, controlOnly: Bool = false) {
        self.core = core
        self.controlOnly = controlOnly
    }

    func handlerAdded(context: ChannelHandlerContext) { armTimer(context: context) }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        timer?.cancel()
        timer = nil
    }

    private func armTimer(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: core.configuration.requestTimeout) { [self] in
            guard !removed, !responding, context.channel.isActive else { return }
            if completedRequests == 0 || head != nil { core.metrics.reject(.upgradeTimeout) }
            // With no request in flight (a keep-alive connection between requests, or a control-port
            // connection that sent nothing) the connection is closed without a response: NIO's
            // server pipeline treats a response with no request as a fatal error. The device port's
            // upgrade handler buffers a first request, so a silent upgrade still gets its 408.
            guard head != nil || (completedRequests == 0 && !controlOnly) else { context.close(promise: nil); return }
            respond(context: context, status: .requestTimeout, body: "request timeout\n", keepAlive: false)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = nil
            bodyTooLarge = false
        case .body(var chunk):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > Self.maxBody {
                bodyTooLarge = true
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            guard let h = head else { return }
            head = nil
            completedRequests += 1
            route(h, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch error {
        case is NIOWebSocketUpgradeError:
            break // answered as plain HTTP when the request ends
        case is HTTPParserError:
            core.metrics.reject(.badHTTP) // HTTPServerProtocolErrorHandler has answered 400
        default:
            context.close(promise: nil)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if let rejection = upgradeRejection {
            upgradeRejection = nil
            switch rejection {
            case .blocked(let firmware):
                core.metrics.reject(.blockedFirmware)
                respond(context: context, status: .forbidden, body: "firmware \(firmware) is blocked\n", keepAlive: false)
            case .admission(let cause, let retryAfter):
                core.metrics.reject(cause)
                var headers = HTTPHeaders()
                headers.add(name: "Retry-After", value: String(retryAfter))
                respond(context: context, status: .serviceUnavailable, headers: headers, body: "try again later\n", keepAlive: false)
            case .fault(let status, let retryAfter):
                core.metrics.reject(.faultHTTPError)
                var headers = HTTPHeaders()
                if let retryAfter { headers.add(name: "Retry-After", value: String(retryAfter)) }
                respond(context: context, status: HTTPResponseStatus(statusCode: status), headers: headers,
                        body: "injected fault: http-errors\n", keepAlive: false)
            }
            return
        }
        if bodyTooLarge {
            respond(context: context, status: .payloadTooLarge, body: "request body too large\n", keepAlive: false)
            return
        }
        switch (head.method, path) {
        case (.GET, "/healthz"):
            let ok = core.isListening
            respond(context: context, status: ok ? .ok : .serviceUnavailable, body: ok ? "ok\n" : "restarting\n", keepAlive: head.isKeepAlive)
        case (.GET, "/metrics"):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain; version=0.0.4")
            respond(context: context, status: .ok, headers: headers, body: core.renderMetrics(), keepAlive: head.isKeepAlive)
        case (_, "/device") where !controlOnly:
            core.metrics.reject(.badUpgrade)
            respond(context: context, status: .badRequest, body: "/device expects a WebSocket upgrade (GET with Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)\n", keepAlive: false)
        case (_, _) where path == "/admin" || path.hasPrefix("/admin/"):
            let text = body.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? ""
            let result = core.admin(method: head.method, path: path, authorization: head.headers.first(name: "Authorization"), body: text)
            if result.status == .unauthorized { core.metrics.reject(.unauthorized) }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: result.contentType)
            if result.status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer") }
            respond(context: context, status: result.status, headers: headers, body: result.body, keepAlive: head.isKeepAlive)
            if let action = result.after { action() }
        default:
            core.metrics.reject(.notFound)
            respond(context: context, status: .notFound, body: "not found; try /device (WebSocket), /metrics, /healthz or /admin\n", keepAlive: head.isKeepAlive)
        }
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(),
                         body: String, keepAlive: Bool) {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
        if headers.first(name: "Content-Type") == nil { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        responding = true
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if keepAlive {
            responding = false
            armTimer(context: context)
        } else {
            timer?.cancel()
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
