import NIOCore
import NIOPosix
import NIOTLS

/// The whole client side of one WebSocket connection: upgrade, framing, message assembly, control
/// frames and deadlines; how its failures become a `WSCloseCause` is in `WSErrorClassification.swift`.
/// One instance per connection, no Task, no actor; all state lives here and every method runs on
/// the channel's event loop.
final class WSConnectionHandler: ChannelInboundHandler, @unchecked Sendable {  // confined to its channel's event loop
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State: UInt8 {
        case idle, tls, upgrading, open, closing, closed
    }

    enum TimerKind: UInt8 {
        case tls, upgrade, pong, close
    }

    let core: WSClientCore
    let tag: Int
    let delegate: WSConnectionDelegate
    let loop: EventLoop

    private(set) var state: State = .idle
    private var timerKind: TimerKind = .tls
    private var reported = false
    private var closeReceived = false
    private var closeRequestedEarly = false
    private var awaitingPong = false
    private var fragmentOpcode: Opcode? = nil
    private var fragmentCompressed = false
    private var utf8 = UTF8Validator()
    var timings = WSTimings()
    private var cause: WSCloseCause? = nil
    private var key: HandshakeKey
    private var masks: MaskKeyGenerator
    private(set) var subprotocol: String? = nil
    private var request: ByteBuffer?
    private var inbound: ByteBuffer? = nil
    private var fragments: ByteBuffer? = nil
    private var timer: Scheduled<Void>? = nil
    private var pingTask: RepeatedTask? = nil
    private var deflate: DeflateCodec? = nil
    private var context: ChannelHandlerContext? = nil

    init(core: WSClientCore, loop: EventLoop, tag: Int, delegate: WSConnectionDelegate, request: ByteBuffer, key: HandshakeKey, maskSeed: UInt64) {
        self.masks = MaskKeyGenerator(seed: maskSeed)
        self.core = core
        self.loop = loop
        self.tag = tag
        self.delegate = delegate
        self.request = request
        self.key = key
        self.timings.startNanos = WSTimings.now()
    }

    var handle: WSConnection { WSConnection(handler: self) }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.activate(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.cancelTimers()
    }

    func channelActive(context: ChannelHandlerContext) {
        self.activate(context: context)
        context.fireChannelActive()
    }

    private func activate(context: ChannelHandlerContext) {
        guard self.state == .idle else { return }
        self.timings.tcpConnectedNanos = WSTimings.now()
        if self.closeRequestedEarly {
            context.close(promise: nil)
        } else if self.core.sslContext != nil {
            self.state = .tls
            self.arm(.tls, after: self.core.configuration.tlsTimeout, context: context)
        } else {
            self.sendUpgrade(context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls, self.state == .tls {
            self.timings.tlsDoneNanos = WSTimings.now()
            self.sendUpgrade(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let classified = Self.classify(error, state: self.state), self.cause == nil {
            self.cause = classified
        }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        switch self.state {
        case .upgrading, .open, .closing:
            if self.inbound == nil {
                self.inbound = bytes
            } else {
                self.inbound!.writeBuffer(&bytes)
            }
        case .idle, .tls, .closed:
            return
        }
        if self.state == .upgrading { self.readUpgradeResponse(context: context) }
        if self.state == .open || self.state == .closing { self.readFrames(context: context) }
        if let i = self.inbound, i.readableBytes == 0 { self.inbound = nil }
    }

    // MARK: Upgrade

    private func sendUpgrade(context: ChannelHandlerContext) {
        self.state = .upgrading
        self.arm(.upgrade, after: self.core.configuration.upgradeTimeout, context: context)
        if let request = self.request {
            self.request = nil
            context.writeAndFlush(Self.wrapOutboundOut(request), promise: nil)
        }
    }

    private func readUpgradeResponse(context: ChannelHandlerContext) {
        guard let inbound = self.inbound else { return }
        switch HandshakeResponse.parse(inbound) {
        case .incomplete:
            return
        case .invalid(let message):
            self.abort(.protocolViolation("upgrade: \(message)"), context: context)
        case .complete(let response, let consumed):
            self.inbound!.moveReaderIndex(forwardBy: consumed)
            guard response.status == 101 else {
                self.abort(.http(status: response.status, retryAfter: response.header("retry-after")), context: context)
                return
            }
            let config = self.core.configuration
            switch response.validate(key: self.key, subprotocols: config.subprotocols, compression: config.compression) {
            case .failure(let e):
                self.abort(.protocolViolation("upgrade: \(e.message)"), context: context)
            case .success(let agreement):
                self.subprotocol = agreement.subprotocol
                if let d = agreement.deflate { self.deflate = DeflateCodec(parameters: d) }
                self.state = .open
                self.timings.upgradedNanos = WSTimings.now()
                self.cancelTimer()
                if let interval = config.pingInterval {
                    self.pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                        self.sendHeartbeatPing()
                    }
                }
                self.delegate.webSocketDidOpen(self.handle)
            }
        }
    }

    /// Ends a connection that never opened (or must not send a Close frame).
    private func abort(_ cause: WSCloseCause, context: ChannelHandlerContext) {
        if self.cause == nil { self.cause = cause }
        self.inbound = nil
        context.close(promise: nil)
    }

    // MARK: Frames

    private func readFrames(context: ChannelHandlerContext) {
        let maxSize = self.core.configuration.maxMessageSize
        while self.state == .open || (self.state == .closing && !self.closeReceived) {
            guard self.inbound != nil else { return }
            switch FrameParser.next(&self.inbound!, maxPayload: maxSize, allowRSV1: self.deflate != nil) {
            case .incomplete:
                if self.inbound!.readerIndex > 0 && self.inbound!.readableBytes > 0 { self.inbound!.discardReadBytes() }
                return
            case .failure(let failure):
                self.fail(failure, context: context)
                return
            case .frame(let frame):
                self.handle(frame, context: context)
            }
        }
        // Closed, or the close handshake is done: anything else the server sends is ignored.
        self.inbound = nil
    }

    private func handle(_ frame: Frame, context: ChannelHandlerContext) {
        switch frame.opcode {
        case .ping:
            if self.state == .open { self.writeFrame(.pong, payload: frame.payload, context: context) }
        case .pong:
            if self.awaitingPong {
                self.awaitingPong = false
                if self.timerKind == .pong { self.cancelTimer() }
            }
            if self.state == .open { self.delegate.webSocket(self.handle, didReceivePong: frame.payload) }
        case .close:
            self.receivedClose(frame.payload, context: context)
        case .text, .binary:
            guard self.fragmentOpcode == nil else {
                return self.fail(.protocolError("new data frame inside a fragmented message"), context: context)
            }
            if frame.fin {
                self.deliver(frame.opcode, frame.payload, compressed: frame.rsv1, validated: false, context: context)
            } else {
                self.fragmentOpcode = frame.opcode
                self.fragmentCompressed = frame.rsv1
                self.utf8 = UTF8Validator()
                self.fragments = frame.payload
                if frame.opcode == .text && !frame.rsv1 && !self.utf8.feed(frame.payload.readableBytesView) {
                    return self.fail(.invalidData("invalid UTF-8 in text message"), context: context)
                }
            }
        case .continuation:
            guard let opcode = self.fragmentOpcode else {
                return self.fail(.protocolError("continuation frame without a message"), context: context)
            }
            let size = (self.fragments?.readableBytes ?? 0) + frame.payload.readableBytes
            guard size <= self.core.configuration.maxMessageSize else {
                return self.fail(.tooBig("message of more than \(self.core.configuration.maxMessageSize) bytes"), context: context)
            }
            if opcode == .text && !self.fragmentCompressed && !self.utf8.feed(frame.payload.readableBytesView) {
                return self.fail(.invalidData("invalid UTF-8 in text message"), context: context)
            }
            var payload = frame.payload
            self.fragments!.writeBuffer(&payload)
            if frame.fin {
                let message = self.fragments!
                let compressed = self.fragmentCompressed
                self.fragments = nil
                self.fragmentOpcode = nil
                if opcode == .text && !compressed && !self.utf8.isComplete {
                    return self.fail(.invalidData("text message ends inside a UTF-8 sequence"), context: context)
                }
                self.deliver(opcode, message, compressed: compressed, validated: !compressed, context: context)
            }
        }
    }

    private func deliver(_ opcode: Opcode, _ payload: ByteBuffer, compressed: Bool, validated: Bool, context: ChannelHandlerContext) {
        guard self.state == .open else { return }
        var payload = payload
        if compressed, let deflate = self.deflate {
            do {
                payload = try deflate.decompress(payload, limit: self.core.configuration.maxMessageSize, allocator: context.channel.allocator)
            } catch DeflateCodec.Failure.tooBig {
                return self.fail(.tooBig("decompressed message exceeds the limit"), context: context)
            } catch {
                return self.fail(.protocolError("invalid compressed data"), context: context)
            }
        }
        if self.timings.firstMessageNanos == 0 { self.timings.firstMessageNanos = WSTimings.now() }
        if opcode == .text {
            if !validated && !UTF8Validator.isValid(payload.readableBytesView) {
                return self.fail(.invalidData("invalid UTF-8 in text message"), context: context)
            }
            self.delegate.webSocket(self.handle, didReceiveText: String(buffer: payload))
        } else {
            self.delegate.webSocket(self.handle, didReceiveBinary: payload)
        }
    }

    private func receivedClose(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        var payload = payload
        var code: UInt16 = 1005
        var reason = ""
        if payload.readableBytes == 1 {
            return self.fail(.protocolError("close frame with a 1-byte payload"), context: context)
        }
        if let c = payload.readInteger(as: UInt16.self) {
            guard Self.isValidReceivedCloseCode(c) else {
                return self.fail(.protocolError("invalid close code \(c)"), context: context)
            }
            guard UTF8Validator.isValid(payload.readableBytesView) else {
                return self.fail(.invalidData("close reason is not UTF-8"), context: context)
            }
            code = c
            reason = String(buffer: payload)
        }
        self.closeReceived = true
        self.fragments = nil
        self.fragmentOpcode = nil
        switch self.state {
        case .open:
            // Peer-initiated: echo its code (RFC 6455 §5.5.1), then let the server close TCP.
            if self.cause == nil { self.cause = .closed(code: code, reason: reason) }
            self.writeClose(code: code == 1005 ? nil : code, reason: "", context: context)
            self.state = .closing
            self.arm(.close, after: self.core.configuration.closeTimeout, context: context)
        case .closing:
            // The answer to our Close: now wait for the server to close TCP (timer already armed).
            break
        default:
            break
        }
    }

    /// _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): send a Close with the code, then give
    /// the server the close timeout to close TCP.
    private func fail(_ failure: ProtocolFailure, context: ChannelHandlerContext) {
        if self.cause == nil { self.cause = .protocolViolation(failure.message) }
        self.fragments = nil
        self.fragmentOpcode = nil
        self.inbound = nil
        if self.state == .open {
            self.writeClose(code: failure.code, reason: "", context: context)
            self.state = .closing
            self.closeReceived = true  // stop reading frames
            self.arm(.close, after: self.core.configuration.closeTimeout, context: context)
        } else {
            context.close(promise: nil)
        }
    }

    static func isValidReceivedCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    // MARK: Writing

    private func writeFrame(_ opcode: Opcode, payload: ByteBuffer, rsv1: Bool = false, context: ChannelHandlerContext) {
        let frame = FrameWriter.write(opcode: opcode, rsv1: rsv1, payload: payload, key: self.masks.next(), allocator: context.channel.allocator)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
    }

    private func writeClose(code: UInt16?, reason: String, context: ChannelHandlerContext) {
        var payload = context.channel.allocator.buffer(capacity: code == nil ? 0 : 2 + reason.utf8.count)
        if let code {
            payload.writeInteger(code)
            payload.writeString(reason)
        }
        self.writeFrame(.close, payload: payload, context: context)
    }

    func sendMessage(_ opcode: Opcode, _ payload: ByteBuffer) {
        guard self.state == .open, let context = self.context else { return }
        if let deflate = self.deflate {
            let compressed = deflate.compress(payload, allocator: context.channel.allocator)
            self.writeFrame(opcode, payload: compressed, rsv1: true, context: context)
        } else {
            self.writeFrame(opcode, payload: payload, context: context)
        }
    }

    func sendText(_ text: String) {
        guard self.state == .open, let context = self.context else { return }
        if self.deflate != nil {
            self.sendMessage(.text, context.channel.allocator.buffer(string: text))
        } else {
            let frame = FrameWriter.write(text: text, key: self.masks.next(), allocator: context.channel.allocator)
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
        }
    }

    func sendPing(_ payload: ByteBuffer) {
        guard self.state == .open, let context = self.context else { return }
        self.writeFrame(.ping, payload: payload, context: context)
    }

    private func sendHeartbeatPing() {
        guard self.state == .open, let context = self.context else { return }
        if self.awaitingPong { return }  // the pong deadline is already running
        self.awaitingPong = true
        self.writeFrame(.ping, payload: ByteBuffer(), context: context)
        self.arm(.pong, after: self.core.configuration.pongTimeout, context: context)
    }

    func close(code: UInt16, reason: String) {
        switch self.state {
        case .open:
            guard let context = self.context else { return }
            if self.cause == nil { self.cause = .normal }
            self.writeClose(code: code, reason: Self.truncatedReason(reason), context: context)
            self.state = .closing
            self.arm(.close, after: self.core.configuration.closeTimeout, context: context)
        case .idle:
            if self.cause == nil { self.cause = .normal }
            self.closeRequestedEarly = true
            self.context?.close(promise: nil)
        case .tls, .upgrading:
            if self.cause == nil { self.cause = .normal }
            self.context?.close(promise: nil)
        case .closing, .closed:
            break
        }
    }

    /// Drops the transport at once, without a close handshake: what a network failure or a
    /// power cut does to a session. The delegate hears `.normal` (this side chose to end it).
    func abort() {
        switch self.state {
        case .closed:
            break
        case .idle:
            if self.cause == nil { self.cause = .normal }
            self.closeRequestedEarly = true
            self.context?.close(promise: nil)
        default:
            if self.cause == nil { self.cause = .normal }
            self.context?.close(promise: nil)
        }
    }

    // MARK: Deadlines

    private func arm(_ kind: TimerKind, after delay: TimeAmount, context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timerKind = kind
        self.timer = context.eventLoop.scheduleTask(in: delay) { [self] in
            self.timer = nil
            self.timerFired(kind)
        }
    }

    private func cancelTimer() {
        self.timer?.cancel()
        self.timer = nil
    }

    private func cancelTimers() {
        self.cancelTimer()
        self.pingTask?.cancel()
        self.pingTask = nil
    }

    private func timerFired(_ kind: TimerKind) {
        guard let context = self.context else { return }
        switch kind {
        case .tls: if self.cause == nil { self.cause = .timeout(.tls) }
        case .upgrade: if self.cause == nil { self.cause = .timeout(.upgrade) }
        case .pong: if self.cause == nil { self.cause = .timeout(.pong) }
        case .close:
            if self.cause == nil || (self.cause == .normal && !self.closeReceived) { self.cause = .timeout(.close) }
        }
        context.close(promise: nil)
    }

    // MARK: Ending

    /// Called when the connection attempt failed before a channel became active.
    func connectFailed(_ error: Error) {
        if self.cause == nil || self.cause == .normal {
            self.cause = Self.classify(error, state: .idle) ?? .other("\(error)")
        }
        self.finish()
    }

    private func finish() {
        guard !self.reported else { return }
        self.reported = true
        let previous = self.state
        self.state = .closed
        self.cancelTimers()
        self.inbound = nil
        self.fragments = nil
        self.deflate = nil
        let cause: WSCloseCause
        if let c = self.cause {
            cause = c
        } else {
            switch previous {
            case .tls: cause = .tlsHandshake("connection closed during the TLS handshake")
            case .upgrading: cause = .eof
            default: cause = .eof
            }
        }
        self.delegate.webSocket(self.handle, didCloseWith: cause, timings: self.timings)
    }

    /// A close reason must fit a control frame: at most 123 bytes, cut on a character boundary.
    static func truncatedReason(_ reason: String) -> String {
        guard reason.utf8.count > 123 else { return reason }
        var out = ""
        for ch in reason {
            if out.utf8.count + String(ch).utf8.count > 123 { break }
            out.append(ch)
        }
        return out
    }
}
