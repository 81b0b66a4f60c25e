import CWSZlib
import NIOCore

/// The zlib side of permessage-deflate for one connection. A direction without context takeover
/// borrows its thread's shared stream (`SharedZlibStreams`) for the length of one message; a
/// direction with context takeover owns a stream for the connection's life, created on first use.
final class DeflateCodec {
    enum Failure: Error { case corrupt, tooBig }

    private let parameters: DeflateParameters
    private var ownDeflater: UnsafeMutablePointer<z_stream>?
    private var ownInflater: UnsafeMutablePointer<z_stream>?
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    init(parameters: DeflateParameters) {
        self.parameters = parameters
    }

    deinit {
        if let d = ownDeflater { deflateEnd(d); d.deallocate() }
        if let i = ownInflater { inflateEnd(i); i.deallocate() }
    }

    private var deflateKey: SharedZlibStreams.DeflateKey {
        // zlib cannot produce raw deflate with an 8-bit window; 9 is its smallest.
        .init(windowBits: Int32(max(9, parameters.clientMaxWindowBits)), level: parameters.level, memoryLevel: parameters.memoryLevel)
    }

    private func deflater() -> UnsafeMutablePointer<z_stream> {
        if parameters.clientNoContextTakeover { return SharedZlibStreams.forCurrentThread.deflater(deflateKey) }
        if let d = ownDeflater { return d }
        let d = SharedZlibStreams.makeDeflater(deflateKey)
        ownDeflater = d
        return d
    }

    private func inflater() -> UnsafeMutablePointer<z_stream> {
        let bits = Int32(parameters.serverMaxWindowBits)
        if parameters.serverNoContextTakeover { return SharedZlibStreams.forCurrentThread.inflater(windowBits: bits) }
        if let i = ownInflater { return i }
        let i = SharedZlibStreams.makeInflater(windowBits: bits)
        ownInflater = i
        return i
    }

    /// Compresses one whole message (RFC 7692 §7.2.1: sync flush, then drop the 00 00 FF FF tail).
    func compress(_ input: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let stream = deflater()
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
        if parameters.clientNoContextTakeover { deflateReset(stream) }
        return output
    }

    /// Decompresses one whole message, failing with `.tooBig` once the output exceeds `limit`.
    func decompress(_ input: ByteBuffer, limit: Int, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let stream = inflater()
        defer { if parameters.serverNoContextTakeover { inflateReset(stream) } }
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
            // The stream is in an unknown state: start the next message from scratch.
            inflateReset(stream)
            throw error
        }
        return output
    }
}
