import DeviceModel
import Foundation
import NIOCore
import NIOWebSocket

/// One device's WebSocket session: `hello` → lookup or registration → `welcome`, then
/// `heartbeat` → `ack`. Anything else gets a defined close code and a reject counter.
final class DeviceSessionHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum State { case awaitingHello, lookingUp, online, closing }

    private let core: BackendCore
    private var state = State.awaitingHello
    private var uuid = ""
    private var helloTimer: Scheduled<Void>?
    private var counted = false

    init(core: BackendCore) { self.core = core }

    func handlerAdded(context: ChannelHandlerContext) {
        core.metrics.connectionOpened()
        counted = true
        let timeout = core.configuration.helloTimeout
        helloTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            if state == .awaitingHello {
                close(context: context, code: DeviceCloseCode.helloTimeout, reason: "no hello", cause: .helloTimeout)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        helloTimer?.cancel()
        helloTimer = nil
        if counted { core.metrics.connectionClosed(); counted = false }
        if state != .lookingUp { state = .closing }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if counted { core.metrics.connectionClosed(); counted = false }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard state != .closing else { return }
        // RFC 6455 §5.1: a server must close the connection on an unmasked client frame.
        guard frame.maskKey != nil else {
            close(context: context, code: DeviceCloseCode.protocolError, reason: "client frames must be masked", cause: .badFrame)
            return
        }
        switch frame.opcode {
        case .text:
            guard frame.fin else {
                close(context: context, code: DeviceCloseCode.unsupportedData, reason: "fragmented messages are not supported", cause: .fragmentedMessage)
                return
            }
            received(text: frame.unmaskedData, context: context)
        case .binary:
            close(context: context, code: DeviceCloseCode.unsupportedData, reason: "text frames only", cause: .binaryFrame)
        case .continuation:
            close(context: context, code: DeviceCloseCode.unsupportedData, reason: "fragmented messages are not supported", cause: .fragmentedMessage)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            // Echo the code, then close TCP from this side (TIME_WAIT stays on the server).
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self) ?? 1000
            state = .closing
            var buffer = context.channel.allocator.buffer(capacity: 2)
            buffer.writeInteger(code == 1005 || code == 1006 ? 1000 : code)
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
            context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        default:
            close(context: context, code: DeviceCloseCode.protocolError, reason: "unknown opcode", cause: .badFrame)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let ws = error as? NIOWebSocketError {
            switch ws {
            case .invalidFrameLength:
                close(context: context, code: DeviceCloseCode.messageTooBig, reason: "frame too big", cause: .frameTooBig)
            default:
                close(context: context, code: DeviceCloseCode.protocolError, reason: "bad frame", cause: .badFrame)
            }
        } else {
            context.close(promise: nil)
        }
    }

    private func received(text: ByteBuffer, context: ChannelHandlerContext) {
        let message: DeviceMessage
        do {
            message = try DeviceMessage.parse(text)
        } catch .malformed {
            close(context: context, code: DeviceCloseCode.invalidPayload, reason: "malformed JSON", cause: .malformedJSON)
            return
        } catch {
            close(context: context, code: DeviceCloseCode.policyViolation, reason: "message without a type", cause: .unknownType)
            return
        }
        switch message {
        case .hello(let uuid, let firmware):
            hello(uuid: uuid, firmware: firmware, context: context)
        case .heartbeat(let seq):
            guard state == .online else {
                close(context: context, code: DeviceCloseCode.policyViolation, reason: "heartbeat before welcome", cause: .protocolViolation)
                return
            }
            let faults = core.faults
            // A heartbeat whose database work fails (the db-errors fault) is not acknowledged.
            if faults.failsQuery() { core.metrics.reject(.faultDatabaseError); return }
            core.metrics.heartbeat()
            core.lastSeen.touch(uuid: uuid, at: BackendCore.unixNow())
            let ack = seq.map { "{\"type\":\"ack\",\"seq\":\($0)}" } ?? "{\"type\":\"ack\"}"
            guard let delay = faults.latency else { send(ack, context: context); return }
            core.metrics.answerDelayed()
            context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delay)) { [self] in
                if state == .online, context.channel.isActive { send(ack, context: context) }
            }
        case .other(let type):
            close(context: context, code: DeviceCloseCode.policyViolation, reason: "unknown message type \(type.prefix(40))", cause: .unknownType)
        }
    }

    private func hello(uuid rawUUID: String, firmware rawFirmware: String, context: ChannelHandlerContext) {
        guard state == .awaitingHello else {
            close(context: context, code: DeviceCloseCode.policyViolation, reason: "hello sent twice", cause: .protocolViolation)
            return
        }
        helloTimer?.cancel()
        helloTimer = nil
        guard let uuid = DeviceMessage.canonicalUUID(rawUUID) else {
            close(context: context, code: DeviceCloseCode.policyViolation, reason: "hello needs a uuid like 8-4-4-4-12 hex digits", cause: .badHello)
            return
        }
        guard let firmware = FirmwareVersion(rawFirmware) else {
            close(context: context, code: DeviceCloseCode.policyViolation, reason: "hello needs a firmware version like 3.8.0-b3", cause: .badHello)
            return
        }
        // The block list comes before any database work: a blocked device costs the database nothing.
        if core.blockList.contains(firmware) {
            core.metrics.handshake(.blocked)
            close(context: context, code: DeviceCloseCode.firmwareBlocked, reason: "firmware \(firmware) is blocked", cause: .blockedFirmware)
            return
        }
        let admission = core.admissionLimits
        guard core.metrics.beginPending(limit: admission.maxPending) else {
            // The gate's pending rule, applied again at hello (an upgrade admitted a moment ago may
            // find the database queue full now); the reason carries the verdict's Retry-After.
            core.metrics.handshake(.admission)
            let retry = BackendCore.wholeSeconds(admission.pendingRetryAfter)
            close(context: context, code: DeviceCloseCode.tryAgainLater, reason: "too many pending handshakes; retry after \(retry)s",
                  cause: .admissionPending)
            return
        }
        self.uuid = uuid
        state = .lookingUp
        let kind = core.lookupPolicy.kind(for: firmware)
        let firmwareText = rawFirmware
        let eventLoop = context.eventLoop
        let core = self.core
        let memory = core.pendingMemory.hold()
        // The faults in force at hello, as the model reads them when it issues the query.
        let faults = core.faults
        let failing = faults.failsQuery()
        let delay = faults.latency
        if delay != nil { core.metrics.answerDelayed() }
        // The handler and its context stay on their loop: the worker thread carries them bound to it.
        let session = NIOLoopBound((handler: self, context: context), eventLoop: eventLoop)
        // The answer comes after the latency fault's delay when one is on; the handshake stays
        // pending meanwhile (its count and its memory), as in the model.
        core.database.submit({ connection in
            // Runs even when the device has gone by now: the database cannot know.
            let outcome = core.runHandshakeQuery(connection, uuid: uuid, firmware: firmwareText, kind: kind, failing: failing)
            Self.onLoop(eventLoop, after: delay) {
                core.pendingMemory.release(memory)
                core.metrics.endPending()
                session.value.handler.lookupFinished(outcome, injected: failing, context: session.value.context)
            }
        }, expired: {
            // The pool's acquire timeout: the query never runs, the device gets 1011.
            Self.onLoop(eventLoop, after: delay) {
                core.pendingMemory.release(memory)
                core.metrics.endPending()
                session.value.handler.lookupFinished(.queueTimeout, injected: false, context: session.value.context)
            }
        })
    }

    /// Runs `body` on the loop: at once, or after `delay` (the latency fault).
    private static func onLoop(_ loop: EventLoop, after delay: Nanoseconds?, _ body: @escaping @Sendable () -> Void) {
        if let delay { loop.scheduleTask(in: .nanoseconds(delay), body) } else { loop.execute(body) }
    }

    private func lookupFinished(_ outcome: HandshakeOutcome, injected: Bool, context: ChannelHandlerContext) {
        guard state == .lookingUp, context.channel.isActive else {
            core.metrics.handshake(.abandoned)
            return
        }
        if outcome == .failed || outcome == .queueTimeout {
            core.metrics.handshake(outcome)
            close(context: context, code: DeviceCloseCode.internalError,
                  reason: outcome == .queueTimeout ? "registry busy: the lookup waited past the queue timeout"
                      : injected ? "registry unavailable (injected fault: db-errors)" : "registry unavailable",
                  cause: injected && outcome == .failed ? .faultDatabaseError : .databaseError)
            return
        }
        core.metrics.handshake(outcome)
        state = .online
        send("{\"type\":\"welcome\"}", context: context)
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
    }

    /// Sends a close frame, then closes TCP.
    func close(context: ChannelHandlerContext, code: UInt16, reason: String, cause: RejectCause?) {
        guard state != .closing else { return }
        if state == .lookingUp { /* the query still runs; its completion counts it abandoned */ }
        state = .closing
        helloTimer?.cancel()
        helloTimer = nil
        if let cause { core.metrics.reject(cause) }
        var buffer = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.writeInteger(code)
        buffer.writeString(String(reason.prefix(120)))
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
