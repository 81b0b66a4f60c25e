import NIOCore

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
