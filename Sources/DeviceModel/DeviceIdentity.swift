import Foundation

/// A device's UUID as 128 bits in two words: no heap allocation, cheap to store per device.
public struct DeviceUUID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The UUID of device `index` in a fleet seeded with `seed`: a version-4-shaped UUID derived by
    /// hashing, so the same seed always gives the same fleet and different seeds unrelated fleets.
    public init(seed: UInt64, index: UInt64) {
        var rng = SeededRandom(seed: seed ^ 0x5555_AAAA_0F0F_F0F0, stream: index)
        var high = rng.next(), low = rng.next()
        high = (high & ~0xF000) | 0x4000                       // version 4
        low = (low & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000 // RFC 4122 variant
        self.init(high: high, low: low)
    }

    /// Parses the canonical 8-4-4-4-12 form (either case, with or without braces).
    public init?(_ text: String) {
        var hex = text.trimmingCharacters(in: .whitespaces)
        if hex.hasPrefix("{") && hex.hasSuffix("}") { hex = String(hex.dropFirst().dropLast()) }
        let groups = hex.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12] else { return nil }
        let digits = groups.joined()
        guard digits.count == 32, let h = UInt64(digits.prefix(16), radix: 16), let l = UInt64(digits.suffix(16), radix: 16)
        else { return nil }
        self.init(high: h, low: l)
    }

    public var description: String {
        let h = String(high, radix: 16).leftPadded(16), l = String(low, radix: 16).leftPadded(16)
        let s = h + l
        func part(_ from: Int, _ length: Int) -> Substring {
            let start = s.index(s.startIndex, offsetBy: from)
            return s[start..<s.index(start, offsetBy: length)]
        }
        return "\(part(0, 8))-\(part(8, 4))-\(part(12, 4))-\(part(16, 4))-\(part(20, 12))"
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// Real devices read from a CSV export: one `uuid,firmware` pair per line.
///
/// A header line is recognised and skipped; columns may be in either order when a header names
/// them (`uuid`, `firmware`). Errors name the file, line and column.
public struct DeviceRoster: Sendable {
    public struct Entry: Hashable, Sendable {
        public var uuid: DeviceUUID
        public var firmware: FirmwareVersion

        public init(uuid: DeviceUUID, firmware: FirmwareVersion) {
            self.uuid = uuid
            self.firmware = firmware
        }
    }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int
        public var column: Int
        public var message: String
        public var description: String { "\(file):\(line):\(column): \(message)" }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public init(contentsOf path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ParseError(file: path, line: 1, column: 1, message: "cannot read device CSV: \(error.localizedDescription)")
        }
        try self.init(csv: text, file: path)
    }

    public init(csv text: String, file: String) throws {
        var entries: [Entry] = []
        var uuidColumn = 0, firmwareColumn = 1
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" }) {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
            if entries.isEmpty, let u = fields.firstIndex(where: { $0.lowercased() == "uuid" }) {
                guard let f = fields.firstIndex(where: { $0.lowercased() == "firmware" }) else {
                    throw ParseError(file: file, line: lineNumber, column: 1, message: "header names no \"firmware\" column")
                }
                uuidColumn = u; firmwareColumn = f
                continue
            }
            func column(of index: Int) -> Int {
                1 + fields.prefix(index).reduce(0) { $0 + $1.count + 1 }
            }
            guard fields.count > max(uuidColumn, firmwareColumn) else {
                throw ParseError(file: file, line: lineNumber, column: 1,
                                 message: "expected \(max(uuidColumn, firmwareColumn) + 1) comma-separated fields, got \(fields.count)")
            }
            guard let uuid = DeviceUUID(fields[uuidColumn]) else {
                throw ParseError(file: file, line: lineNumber, column: column(of: uuidColumn),
                                 message: "expected a UUID like 0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89, got \"\(fields[uuidColumn])\"")
            }
            guard let firmware = FirmwareVersion(fields[firmwareColumn]) else {
                throw ParseError(file: file, line: lineNumber, column: column(of: firmwareColumn),
                                 message: "expected a firmware version like 3.8.0-b3, got \"\(fields[firmwareColumn])\"")
            }
            entries.append(Entry(uuid: uuid, firmware: firmware))
        }
        self.entries = entries
    }
}
