import NIOConcurrencyHelpers

/// Heartbeats update `last_seen` in batches: the event loop records the latest time per device, and
/// one job per flush interval writes them all in one transaction. A clean shutdown flushes what is
/// left, so an acknowledged heartbeat is never lost.
final class LastSeenBatcher: Sendable {
    let pendingBox = NIOLockedValueBox([String: Int64]())

    func touch(uuid: String, at: Int64) {
        pendingBox.withLockedValue { $0[uuid] = at }
    }

    var count: Int { pendingBox.withLockedValue { $0.count } }

    /// Takes everything recorded so far.
    func drain() -> [(uuid: String, at: Int64)] {
        let taken = pendingBox.withLockedValue { map -> [String: Int64] in
            let copy = map
            map.removeAll(keepingCapacity: true)
            return copy
        }
        return taken.map { (uuid: $0.key, at: $0.value) }
    }
}

extension LastSeenBatcher {
    /// Re-queues a value from a failed flush unless a newer heartbeat already replaced it.
    func touchIfAbsent(uuid: String, at: Int64) {
        pendingBox.withLockedValue { if $0[uuid] == nil { $0[uuid] = at } }
    }
}
