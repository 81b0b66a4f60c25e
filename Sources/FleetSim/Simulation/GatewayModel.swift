import DeviceModel

/// One gateway process of the backend model: connections and in-flight handshakes cost memory;
/// past its limit it crashes, drops every connection, and comes back after a restart delay.
struct GatewayModel {
    var up = true
    /// Incremented at each crash or restart: work and connections of an older generation are gone.
    var generation: UInt32 = 0
    var open = 0
    var pending = 0
    /// The devices attached in this generation.
    let members = DeviceSet()

    @inline(__always)
    func memory(_ spec: Scenario.Gateways) -> Int64 {
        spec.memoryBase + Int64(open) * spec.perConnection + Int64(pending) * spec.perPending
    }
}

/// The devices attached to one gateway, in no particular order: a dense array with swap-remove.
/// A crash reads it in one sequential pass, and a detach touches one other device (the one moved
/// into its place), where a linked list would touch two and make a crash chase a pointer per device.
// Stored properties are `@exclusivity(unchecked)`: the engine runs on one thread and never
// holds two accesses to one of them at once; dynamic checks cost more than the events.
final class DeviceSet {
    @exclusivity(unchecked) private(set) var items: UnsafeMutablePointer<Int32>
    @exclusivity(unchecked) private(set) var count = 0
    @exclusivity(unchecked) private var capacity = 16

    init() { items = .allocate(capacity: capacity) }

    deinit { items.deallocate() }

    /// Adds a device; returns its place, which the device keeps for `remove(at:)`.
    @inline(__always)
    func insert(_ device: Int32) -> Int32 {
        if count == capacity {
            let bigger = UnsafeMutablePointer<Int32>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: items, count: count)
            items.deallocate()
            items = bigger
            capacity *= 2
        }
        items[count] = device
        count += 1
        return Int32(count - 1)
    }

    /// Removes the device at `place`; returns the device moved into that place, if one was.
    @inline(__always)
    func remove(at place: Int32) -> Int32? {
        count -= 1
        guard Int(place) != count else { return nil }
        let moved = items[count]
        items[Int(place)] = moved
        return moved
    }

    func removeAll() { count = 0 }
}
