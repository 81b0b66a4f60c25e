import NIOCore

/// The parts of the upgrade request shared by every connection of a client.
struct HandshakeTemplate: Sendable {
    /// Header lines after Host and before the key, each ending in CRLF.
    let fixedHeaders: String

    init(subprotocols: [String], compression: WSCompression?, headers: [(String, String)]) {
        var s = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        if !subprotocols.isEmpty { s += "Sec-WebSocket-Protocol: \(subprotocols.joined(separator: ", "))\r\n" }
        if let compression { s += "Sec-WebSocket-Extensions: \(compression.offer)\r\n" }
        for (name, value) in headers { s += "\(name): \(value)\r\n" }
        self.fixedHeaders = s
    }

    /// Writes the whole request head.
    func write(into buffer: inout ByteBuffer, path: String, host: String, key: HandshakeKey, extraHeaders: [(String, String)]) {
        buffer.writeStaticString("GET ")
        buffer.writeString(path)
        buffer.writeStaticString(" HTTP/1.1\r\nHost: ")
        buffer.writeString(host)
        buffer.writeStaticString("\r\n")
        buffer.writeString(fixedHeaders)
        for (name, value) in extraHeaders {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("Sec-WebSocket-Key: ")
        buffer.writeString(key.encoded)
        buffer.writeStaticString("\r\n\r\n")
    }
}
