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

/// Decodes server-to-client frames (RFC 6455 §5.2) straight from the receive buffer.
enum FrameParser {
    enum Result {
        case frame(Frame)
        case incomplete
        case failure(ProtocolFailure)
    }

    /// Reads one frame from `buffer` if it is complete. `maxPayload` bounds a single frame so an
    /// oversized message is refused from its header, before its bytes are buffered.
    static func next(_ buffer: inout ByteBuffer, maxPayload: Int, allowRSV1: Bool) -> Result {
        guard buffer.readableBytes >= 2,
              let b0 = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let b1 = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
        else { return .incomplete }
        let fin = b0 & 0x80 != 0
        let rsv1 = b0 & 0x40 != 0
        guard b0 & 0x30 == 0 else { return .failure(.protocolError("reserved bits RSV2/RSV3 set")) }
        guard let opcode = Opcode(rawValue: b0 & 0x0F) else {
            return .failure(.protocolError("reserved opcode \(b0 & 0x0F)"))
        }
        if rsv1 && (!allowRSV1 || opcode.isControl || opcode == .continuation) {
            return .failure(.protocolError("reserved bit RSV1 set"))
        }
        guard b1 & 0x80 == 0 else { return .failure(.protocolError("masked frame from server")) }
        var headerSize = 2
        var length = UInt64(b1 & 0x7F)
        if length == 126 {
            guard let l = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return .incomplete }
            length = UInt64(l)
            headerSize = 4
            if length < 126 { return .failure(.protocolError("non-minimal length encoding")) }
        } else if length == 127 {
            guard let l = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt64.self) else { return .incomplete }
            guard l & (1 << 63) == 0 else { return .failure(.protocolError("64-bit length with high bit set")) }
            length = l
            headerSize = 10
            if length <= 0xFFFF { return .failure(.protocolError("non-minimal length encoding")) }
        }
        if opcode.isControl {
            guard fin else { return .failure(.protocolError("fragmented control frame")) }
            guard length <= 125 else { return .failure(.protocolError("control frame payload over 125 bytes")) }
        } else if length > UInt64(maxPayload) {
            return .failure(.tooBig("frame of \(length) bytes exceeds the message limit"))
        }
        guard buffer.readableBytes >= headerSize + Int(length) else { return .incomplete }
        buffer.moveReaderIndex(forwardBy: headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        return .frame(Frame(fin: fin, rsv1: rsv1, opcode: opcode, payload: payload))
    }
}

/// Masking keys for one connection: SplitMix64 seeded from the system's entropy when the connection
/// is created. RFC 6455 §5.3 asks for unpredictable keys to stop a hostile script in a browser from
/// steering bytes on the wire; this client sends only what its caller chose, and one `getrandom`
/// syscall per frame would cost more CPU than the rest of a heartbeat round trip.
struct MaskKeyGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt32 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt32(truncatingIfNeeded: z ^ (z >> 31))
    }
}

/// Encodes client-to-server frames: always masked (RFC 6455 §5.3), header and payload in one buffer.
enum FrameWriter {
    static func write(opcode: Opcode, fin: Bool = true, rsv1: Bool = false, payload: ByteBuffer, key: UInt32,
                      allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload = payload
        return write(opcode: opcode, fin: fin, rsv1: rsv1, length: payload.readableBytes, key: key, allocator: allocator) {
            $0.writeBuffer(&payload)
        }
    }

    /// A text frame straight from a String: one allocation, one copy.
    static func write(text: String, key: UInt32, allocator: ByteBufferAllocator) -> ByteBuffer {
        write(opcode: .text, fin: true, rsv1: false, length: text.utf8.count, key: key, allocator: allocator) {
            $0.writeString(text)
        }
    }

    private static func write(opcode: Opcode, fin: Bool, rsv1: Bool, length: Int, key: UInt32, allocator: ByteBufferAllocator,
                              body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var out = allocator.buffer(capacity: 14 + length)
        out.writeInteger(UInt8((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0)) | opcode.rawValue)
        if length < 126 {
            out.writeInteger(UInt8(0x80 | length))
        } else if length <= 0xFFFF {
            out.writeInteger(UInt8(0x80 | 126))
            out.writeInteger(UInt16(length))
        } else {
            out.writeInteger(UInt8(0x80 | 127))
            out.writeInteger(UInt64(length))
        }
        out.writeInteger(key)
        let start = out.writerIndex
        body(&out)
        mask(&out, from: start, key: key)
        return out
    }

    /// XORs bytes from `start` to the writer index with the big-endian masking key.
    static func mask(_ buffer: inout ByteBuffer, from start: Int, key: UInt32) {
        let offset = start - buffer.readerIndex
        withUnsafeBytes(of: key.bigEndian) { keyBytes in
            // The key repeated to 8 bytes, in memory order, so word-sized XOR is endian-neutral.
            var word: UInt64 = 0
            withUnsafeMutableBytes(of: &word) { w in for i in 0..<8 { w[i] = keyBytes[i & 3] } }
            buffer.withUnsafeMutableReadableBytes { bytes in
                let count = bytes.count - offset
                guard count > 0, let base = bytes.baseAddress?.advanced(by: offset) else { return }
                var i = 0
                while i + 8 <= count {
                    let v = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    base.storeBytes(of: v ^ word, toByteOffset: i, as: UInt64.self)
                    i += 8
                }
                let tail = base.assumingMemoryBound(to: UInt8.self)
                while i < count {
                    tail[i] ^= keyBytes[i & 3]
                    i += 1
                }
            }
        }
    }
}
