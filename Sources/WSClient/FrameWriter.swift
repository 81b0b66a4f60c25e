import NIOCore

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
