/// Firmware ranges that may not connect: checked before any database work, so a blocked device
/// costs the database nothing. Shared by the simulation's backend model and the reference backend.
public struct FirmwareBlockList: Sendable, Equatable {
    public var ranges: [FirmwareRange]

    public init(_ ranges: [FirmwareRange] = []) { self.ranges = ranges }

    public var isEmpty: Bool { ranges.isEmpty }

    /// True when some blocked range contains `v`.
    public func contains(_ v: FirmwareVersion) -> Bool {
        for r in ranges where r.contains(v) { return true }
        return false
    }

    /// Adds a range; false when an equal range was already blocked.
    @discardableResult
    public mutating func block(_ r: FirmwareRange) -> Bool {
        if ranges.contains(r) { return false }
        ranges.append(r)
        return true
    }

    /// Removes a range (compared as `FirmwareRange` values); false when it was not blocked.
    @discardableResult
    public mutating func unblock(_ r: FirmwareRange) -> Bool {
        let before = ranges.count
        ranges.removeAll { $0 == r }
        return ranges.count != before
    }
}
