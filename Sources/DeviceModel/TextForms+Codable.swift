import Foundation

/// The vocabulary types a backend configuration holds are serialised as the text a user writes
/// (`>=3.8.0-b3`, `scan:>=3.8.0-b3`, `3.7.2`): one text form per type, whether it arrives on a
/// command line, in YAML or in a configuration handed to a child process.
private func decodeText<T>(_ decoder: Decoder, _ parse: (String) throws -> T?) throws -> T {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    let value: T?
    do { value = try parse(text) } catch {
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(error)")
    }
    guard let value else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "unreadable \"\(text)\"") }
    return value
}

private func encodeText(_ text: String, _ encoder: Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(text)
}

extension FirmwareRange: Codable {
    public init(from decoder: Decoder) throws { self = try decodeText(decoder) { try FirmwareRange(parsing: $0) } }
    public func encode(to encoder: Encoder) throws { try encodeText(text, encoder) }
}

extension LookupPolicy: Codable {
    public init(from decoder: Decoder) throws { self = try decodeText(decoder) { try LookupPolicy(parsing: $0) } }
    public func encode(to encoder: Encoder) throws { try encodeText(description, encoder) }
}

extension FirmwareVersion: Codable {
    public init(from decoder: Decoder) throws { self = try decodeText(decoder) { FirmwareVersion($0) } }
    public func encode(to encoder: Encoder) throws { try encodeText(description, encoder) }
}

extension DeviceUUID: Codable {
    public init(from decoder: Decoder) throws { self = try decodeText(decoder) { DeviceUUID($0) } }
    public func encode(to encoder: Encoder) throws { try encodeText(description, encoder) }
}

extension DeviceRoster.Entry: Codable {
    private enum CodingKeys: String, CodingKey { case uuid, firmware }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(uuid: try c.decode(DeviceUUID.self, forKey: .uuid), firmware: try c.decode(FirmwareVersion.self, forKey: .firmware))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(uuid, forKey: .uuid)
        try c.encode(firmware, forKey: .firmware)
    }
}
