import DeviceModel
import NIOConcurrencyHelpers

/// Firmware ranges that may not connect. Checked at upgrade (when the request names its firmware)
/// and on `hello`, always before any database work: a blocked device costs the database nothing.
final class BlockList: Sendable {
    private let ranges: NIOLockedValueBox<[FirmwareRange]>

    init(_ ranges: [FirmwareRange]) { self.ranges = NIOLockedValueBox(ranges) }

    var current: [FirmwareRange] { ranges.withLockedValue { $0 } }

    func contains(_ version: FirmwareVersion) -> Bool {
        ranges.withLockedValue { list in list.contains { $0.contains(version) } }
    }

    /// Adds a range; false when an equal range was already blocked.
    @discardableResult
    func block(_ range: FirmwareRange) -> Bool {
        ranges.withLockedValue { list in
            if list.contains(range) { return false }
            list.append(range)
            return true
        }
    }

    /// Removes a range (compared as sets of versions); false when it was not blocked.
    @discardableResult
    func unblock(_ range: FirmwareRange) -> Bool {
        ranges.withLockedValue { list in
            let before = list.count
            list.removeAll { $0 == range }
            return list.count != before
        }
    }

    func clear() { ranges.withLockedValue { $0.removeAll() } }

    func replace(with new: [FirmwareRange]) { ranges.withLockedValue { $0 = new } }
}
