import Testing
@testable import DeviceModel
@testable import FleetSim

/// The engine's memory budget (200 bytes a device at 1,000,000 devices) and its speed rest on a
/// device being exactly one cache line; a field added carelessly would make it two.
@Test func aDeviceSlotIsOneCacheLine() {
    #expect(MemoryLayout<Simulation.DeviceSlot>.stride == 64)
}

@Test func aDeviceArrayStartsOnACacheLine() {
    let storage = DeviceStorage(devices: 3, groups: [])
    #expect(UInt(bitPattern: storage.devices.baseAddress!) % 64 == 0)
}

@Test func handshakeLatencySurvivesTheMicrosecondClockWrapping() {
    // Attempt started 1 ms before the 32-bit microsecond clock wraps, welcomed 2 ms after it.
    let wrap = Nanoseconds(1) << 32 * Time.microsecond
    let start = Simulation.DeviceSlot.microseconds(wrap - Time.millisecond)
    let end = Simulation.DeviceSlot.microseconds(wrap + 2 * Time.millisecond)
    #expect(end &- start == 3_000)
}
