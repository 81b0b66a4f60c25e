import NIOCore

/// Receives a connection's events. Every call happens on the connection's event loop, so a
/// delegate shared by all connections of one loop needs no lock. Use `WSConnection.tag` to find
/// the caller's per-connection state (e.g. an index into a contiguous array of devices).
public protocol WSConnectionDelegate: AnyObject {
    /// The upgrade succeeded; `connection.subprotocol` holds the negotiated subprotocol.
    func webSocketDidOpen(_ connection: WSConnection)
    /// A complete, UTF-8-validated text message.
    func webSocket(_ connection: WSConnection, didReceiveText text: String)
    /// A complete binary message.
    func webSocket(_ connection: WSConnection, didReceiveBinary data: ByteBuffer)
    /// A pong arrived (answer to `ping()` or the automatic heartbeat).
    func webSocket(_ connection: WSConnection, didReceivePong data: ByteBuffer)
    /// The connection is gone, or never opened. Called exactly once per `connect`.
    func webSocket(_ connection: WSConnection, didCloseWith cause: WSCloseCause, timings: WSTimings)
}

extension WSConnectionDelegate {
    public func webSocketDidOpen(_ connection: WSConnection) {}
    public func webSocket(_ connection: WSConnection, didReceiveText text: String) {}
    public func webSocket(_ connection: WSConnection, didReceiveBinary data: ByteBuffer) {}
    public func webSocket(_ connection: WSConnection, didReceivePong data: ByteBuffer) {}
}
