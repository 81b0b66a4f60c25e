import CWSZlib
import NIOCore

/// The zlib side of permessage-deflate for one connection. Streams are created on first use; when
/// the negotiated parameters say "no context takeover" they are freed after every message, so an
/// idle connection costs nothing here.
final class DeflateCodec {
    enum Failure: Error { case corrupt, tooBig }

    private let parameters: DeflateParameters
    private var deflater: UnsafeMutablePointer<z_stream>?
    private var inflater: UnsafeMutablePointer<z_stream>?
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    init(parameters: DeflateParameters) {
        self.parameters = parameters
    }

    deinit {
        releaseDeflater()
        releaseInflater()
    }

    private func releaseDeflater() {
        if let d = deflater { deflateEnd(d); d.deallocate(); deflater = nil }
    }

    private func releaseInflater() {
        if let i = inflater { inflateEnd(i); i.deallocate(); inflater = nil }
    }

    /// Compresses one whole message (RFC 7692 §7.2.1: sync flush, then drop the 00 00 FF FF tail).
    func compress(_ input: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        if deflater == nil {
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            // zlib cannot produce raw deflate with an 8-bit window; 9 is its smallest.
            let bits = Int32(max(9, parameters.clientMaxWindowBits))
            let rc = deflateInit2_(s, parameters.level, Z_DEFLATED, -bits, parameters.memoryLevel,
                                   Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
            precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
            deflater = s
        }
        let stream = deflater!
        var output = allocator.buffer(capacity: Int(deflateBound(stream, uLong(input.readableBytes))) + 16)
        input.withUnsafeReadableBytes { inPtr in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: inPtr.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(inPtr.count)
            repeat {
                output.reserveCapacity(minimumWritableBytes: 64)
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: 64) { outPtr in
                    stream.pointee.next_out = outPtr.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(outPtr.count)
                    _ = deflate(stream, Z_SYNC_FLUSH)
                    return outPtr.count - Int(stream.pointee.avail_out)
                }
            } while stream.pointee.avail_out == 0 || stream.pointee.avail_in > 0
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        if output.readableBytes >= 4, output.readableBytesView.suffix(4).elementsEqual(Self.tail) {
            output.moveWriterIndex(to: output.writerIndex - 4)
        }
        if parameters.clientNoContextTakeover { releaseDeflater() }
        return output
    }

    /// Decompresses one whole message, failing with `.tooBig` once the output exceeds `limit`.
    func decompress(_ input: ByteBuffer, limit: Int, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        if inflater == nil {
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            let rc = inflateInit2_(s, -Int32(parameters.serverMaxWindowBits), zlibVersion(), Int32(MemoryLayout<z_stream>.size))
            precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
            inflater = s
        }
        defer { if parameters.serverNoContextTakeover { releaseInflater() } }
        let stream = inflater!
        var output = allocator.buffer(capacity: min(limit + 1, max(256, input.readableBytes * 4)))
        func run(_ bytes: UnsafeRawBufferPointer) throws {
            stream.pointee.next_in = UnsafeMutablePointer(mutating: bytes.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(bytes.count)
            defer { stream.pointee.next_in = nil; stream.pointee.next_out = nil }
            while true {
                var rc: Int32 = Z_OK
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: 1024) { outPtr in
                    stream.pointee.next_out = outPtr.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(outPtr.count)
                    rc = inflate(stream, Z_SYNC_FLUSH)
                    return outPtr.count - Int(stream.pointee.avail_out)
                }
                if output.readableBytes > limit { throw Failure.tooBig }
                if rc == Z_STREAM_END {
                    // A final block: the next message needs a fresh stream state.
                    inflateReset(stream)
                    if stream.pointee.avail_in > 0 { throw Failure.corrupt }
                    break
                }
                guard rc == Z_OK || rc == Z_BUF_ERROR else { throw Failure.corrupt }
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { break }
            }
        }
        do {
            try input.withUnsafeReadableBytes { try run($0) }
            try Self.tail.withUnsafeBytes { try run($0) }
        } catch {
            releaseInflater()
            throw error
        }
        return output
    }
}
