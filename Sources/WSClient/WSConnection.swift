import NIOCore

/// A handle to one connection: cheap to copy (one reference), safe to use from any thread.
/// Calls made off the connection's event loop hop onto it. Messages sent before the connection is
/// open or after it started closing are dropped: the delegate's open/close callbacks say when
/// sending makes sense.
public struct WSConnection: Sendable, Hashable {
    let handler: WSConnectionHandler

    init(handler: WSConnectionHandler) {
        self.handler = handler
    }

    /// The caller's tag given to `WSClient.connect` (e.g. a device index).
    public var tag: Int { handler.tag }

    /// The event loop that runs this connection and calls its delegate.
    public var eventLoop: EventLoop { handler.loop }

    /// The negotiated subprotocol. Read it on the event loop (e.g. in the delegate).
    public var subprotocol: String? { handler.subprotocol }

    /// The milestones so far. Read it on the event loop (e.g. in the delegate).
    public var timings: WSTimings { handler.timings }

    /// Sends a text message.
    public func send(text: String) {
        onLoop { $0.sendText(text) }
    }

    /// Sends a binary message.
    public func send(binary: ByteBuffer) {
        onLoop { $0.sendMessage(.binary, binary) }
    }

    /// Sends a ping (payload at most 125 bytes); the pong arrives at `webSocket(_:didReceivePong:)`.
    public func ping(_ payload: ByteBuffer = ByteBuffer()) {
        precondition(payload.readableBytes <= 125, "ping payload over 125 bytes")
        onLoop { $0.sendPing(payload) }
    }

    /// Starts the close handshake (or abandons a connection still being set up). The delegate's
    /// close callback follows once the server has closed TCP or the close timeout expired.
    public func close(code: UInt16 = 1000, reason: String = "") {
        onLoop { $0.close(code: code, reason: reason) }
    }

    /// Drops the connection without a close handshake (no Close frame; TCP closed at once), as
    /// a network failure would. The delegate's close callback follows.
    public func abort() {
        onLoop { $0.abort() }
    }

    private func onLoop(_ body: @escaping @Sendable (WSConnectionHandler) -> Void) {
        let handler = self.handler
        if handler.loop.inEventLoop {
            body(handler)
        } else {
            handler.loop.execute { body(handler) }
        }
    }

    public static func == (a: WSConnection, b: WSConnection) -> Bool { a.handler === b.handler }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(handler)) }
}
