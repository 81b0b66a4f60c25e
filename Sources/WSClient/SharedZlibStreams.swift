import CWSZlib
import NIOPosix

/// zlib streams shared by every connection of one thread (one event loop) whose messages are
/// compressed without context takeover. Such messages are independent, so one reset stream per
/// thread serves them all: idle connections hold no zlib memory, and a message costs neither
/// `deflateInit` nor its large allocations (which, per message, cost more CPU than the message).
// @unchecked: one instance per thread (held in a ThreadSpecificVariable), never shared across threads.
final class SharedZlibStreams: @unchecked Sendable {
    struct DeflateKey: Equatable {
        var windowBits: Int32
        var level: Int32
        var memoryLevel: Int32
    }

    private var deflater: UnsafeMutablePointer<z_stream>? = nil
    private var deflaterKey = DeflateKey(windowBits: 0, level: 0, memoryLevel: 0)
    private var inflater: UnsafeMutablePointer<z_stream>? = nil
    private var inflaterBits: Int32 = 0

    private static let current = ThreadSpecificVariable<SharedZlibStreams>()

    /// This thread's streams.
    static var forCurrentThread: SharedZlibStreams {
        if let s = current.currentValue { return s }
        let s = SharedZlibStreams()
        current.currentValue = s
        return s
    }

    deinit {
        if let d = deflater { deflateEnd(d); d.deallocate() }
        if let i = inflater { inflateEnd(i); i.deallocate() }
    }

    /// A deflater in its initial state for raw deflate with these parameters.
    func deflater(_ key: DeflateKey) -> UnsafeMutablePointer<z_stream> {
        if let d = deflater, deflaterKey == key { return d }
        if let d = deflater { deflateEnd(d); d.deallocate() }
        let s = Self.makeDeflater(key)
        deflater = s
        deflaterKey = key
        return s
    }

    /// An inflater in its initial state for raw inflate with this window.
    func inflater(windowBits: Int32) -> UnsafeMutablePointer<z_stream> {
        if let i = inflater, inflaterBits == windowBits { return i }
        if let i = inflater { inflateEnd(i); i.deallocate() }
        let s = Self.makeInflater(windowBits: windowBits)
        inflater = s
        inflaterBits = windowBits
        return s
    }

    static func makeDeflater(_ key: DeflateKey) -> UnsafeMutablePointer<z_stream> {
        let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        s.initialize(to: z_stream())
        let rc = deflateInit2_(s, key.level, Z_DEFLATED, -key.windowBits, key.memoryLevel,
                               Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
        return s
    }

    static func makeInflater(windowBits: Int32) -> UnsafeMutablePointer<z_stream> {
        let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        s.initialize(to: z_stream())
        let rc = inflateInit2_(s, -windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
        return s
    }
}
