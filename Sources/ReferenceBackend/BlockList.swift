import DeviceModel
import NIOConcurrencyHelpers

/// The backend's block list: DeviceModel's `FirmwareBlockList` (the rule the simulation applies
/// too) behind a lock, changed at runtime through `/admin`. Checked at upgrade (when the request
/// names its firmware) and on `hello`, always before any database work.
final class BlockList: Sendable {
    private let list: NIOLockedValueBox<FirmwareBlockList>

    init(_ ranges: [FirmwareRange]) { list = NIOLockedValueBox(FirmwareBlockList(ranges)) }

    var current: [FirmwareRange] { list.withLockedValue { $0.ranges } }

    func contains(_ version: FirmwareVersion) -> Bool { list.withLockedValue { $0.contains(version) } }

    /// Adds a range; false when an equal range was already blocked.
    @discardableResult
    func block(_ range: FirmwareRange) -> Bool { list.withLockedValue { $0.block(range) } }

    /// Removes a range; false when it was not blocked.
    @discardableResult
    func unblock(_ range: FirmwareRange) -> Bool { list.withLockedValue { $0.unblock(range) } }

    func clear() { list.withLockedValue { $0.ranges.removeAll() } }

    func replace(with new: [FirmwareRange]) { list.withLockedValue { $0.ranges = new } }
}
