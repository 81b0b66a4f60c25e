import Foundation
import NIOConcurrencyHelpers

/// The memory an in-flight handshake holds until its lookup completes: the request's context and
/// the rows its query returns (the model's `per_pending`). Held from `hello` until the query has
/// run or expired, even when the device has given up meanwhile, which is how a pile-up of pending
/// handshakes runs a backend out of memory.
///
/// Real resident memory, so that the memory guard measures it like any other: each hold is its own
/// anonymous mapping with its pages faulted in, returned to the system when released (`malloc`
/// would keep freed blocks in its arenas, and resident memory would never fall).
final class PendingMemory: @unchecked Sendable {  // `held` is protected by `lock`
    /// Bytes per pending handshake; 0: nothing is held.
    let bytesPerHandshake: Int
    private let lock = NIOLock()
    private var held: [UInt64: UnsafeMutableRawPointer] = [:]
    private var next: UInt64 = 0

    init(bytesPerHandshake: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        self.bytesPerHandshake = bytesPerHandshake <= 0 ? 0 : (bytesPerHandshake + page - 1) / page * page
    }

    /// Maps and touches one handshake's memory; returns its ticket (nil when nothing is held, or
    /// the system refused the mapping: the handshake goes on without it).
    func hold() -> UInt64? {
        guard bytesPerHandshake > 0 else { return nil }
        #if os(Linux)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE
        #else
        let flags = MAP_PRIVATE | MAP_ANON
        #endif
        guard let p = mmap(nil, bytesPerHandshake, PROT_READ | PROT_WRITE, flags, -1, 0), p != MAP_FAILED else { return nil }
        #if !os(Linux)
        memset(p, 1, bytesPerHandshake)
        #endif
        return lock.withLock {
            next += 1
            held[next] = p
            return next
        }
    }

    /// Returns a handshake's memory (a no-op when a crash already returned it).
    func release(_ ticket: UInt64?) {
        guard let ticket, let p = lock.withLock({ held.removeValue(forKey: ticket) }) else { return }
        munmap(p, bytesPerHandshake)
    }

    /// A crashed process gives all its memory back: every hold, whatever its query's state.
    func releaseAll() {
        let all = lock.withLock { () -> [UnsafeMutableRawPointer] in
            defer { held.removeAll() }
            return Array(held.values)
        }
        for p in all { munmap(p, bytesPerHandshake) }
    }

    /// Bytes held now.
    var heldBytes: Int { lock.withLock { held.count } * bytesPerHandshake }
}
