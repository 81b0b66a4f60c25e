import DeviceModel

extension Simulation {
    /// One device: exactly one 64-byte cache line (the engine's fields fill the machine's tail
    /// padding), allocated on a cache-line boundary, so handling an event touches one line.
    struct DeviceSlot {
        var machine: DeviceMachine
        var link: Link = .none
        var group: UInt16
        var gateway: UInt16 = 0
        /// When the current connect attempt began, in microseconds modulo 2^32: handshakes end
        /// far sooner than the 71 minutes this wraps at, so the difference is exact.
        var attemptStartUs: UInt32 = 0
        /// Incremented at each connect and close: events of an older connection are ignored.
        var connection: UInt32 = 0
        /// This device's place in its gateway's `members`; valid while `link == .attached` and
        /// the gateway generation matches.
        var placeOnGateway: Int32 = -1
        /// The gateway's generation when this device attached, modulo 2^16: a crash drops every
        /// device attached to the gateway, so no attached device is 65,536 generations old.
        var gatewayGeneration: UInt16 = 0
        /// Joined and still in its first connect attempt (`DriverCore.afterEvent`).
        var joining = false
        /// The mass disconnect this device was dropped in and has not come back from (0: none).
        var episode: UInt32 = 0

        @inline(__always)
        static func microseconds(_ t: Nanoseconds) -> UInt32 { UInt32(truncatingIfNeeded: t / Time.microsecond) }
    }

    enum Link: UInt8 { case none, connecting, attached }
}

/// The device array, allocated once for the whole run on a cache-line boundary, and freed with
/// the simulation.
// Stored properties are `@exclusivity(unchecked)`: the engine runs on one thread and never
// holds two accesses to one of them at once; dynamic checks cost more than the events.
final class DeviceStorage {
    let devices: UnsafeMutableBufferPointer<Simulation.DeviceSlot>
    let behaviours: UnsafeMutableBufferPointer<DeviceBehaviour>
    @exclusivity(unchecked) private var initialized = 0

    init(devices count: Int, groups: [DeviceBehaviour]) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Simulation.DeviceSlot>.stride,
                                                   alignment: 64)
        devices = UnsafeMutableBufferPointer(start: raw.bindMemory(to: Simulation.DeviceSlot.self, capacity: max(1, count)),
                                             count: max(1, count))
        behaviours = .allocate(capacity: max(1, groups.count))
        _ = behaviours.initialize(from: groups)
        initialized = count
    }

    deinit {
        devices.baseAddress!.deinitialize(count: initialized)
        UnsafeMutableRawPointer(devices.baseAddress!).deallocate()
        behaviours.baseAddress!.deinitialize(count: behaviours.count)
        behaviours.deallocate()
    }
}
