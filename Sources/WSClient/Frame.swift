import NIOCore

/// RFC 6455 opcodes.
enum Opcode: UInt8 {
    case continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA
    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// A violation that makes the client fail the connection, with the close code it sends.
struct ProtocolFailure: Error, Equatable {
    var code: UInt16
    var message: String
    static func protocolError(_ m: String) -> ProtocolFailure { .init(code: 1002, message: m) }
    static func invalidData(_ m: String) -> ProtocolFailure { .init(code: 1007, message: m) }
    static func tooBig(_ m: String) -> ProtocolFailure { .init(code: 1009, message: m) }
}

/// One decoded frame; `payload` is a slice of the received bytes (servers never mask).
struct Frame {
    var fin: Bool
    var rsv1: Bool
    var opcode: Opcode
    var payload: ByteBuffer
}
