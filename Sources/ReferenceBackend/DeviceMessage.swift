import NIOCore

/// A device's message, as the default protocol of DESIGN.md writes it.
enum DeviceMessage: Equatable {
    case hello(uuid: String, firmware: String)
    case heartbeat(seq: Int64?)
    case other(type: String)

    enum ParseError: Error, Equatable {
        /// Not a JSON object (or not UTF-8).
        case malformed
        /// A JSON object without a string `type`.
        case missingType
    }

    /// Parses a text frame's payload. A strict JSON reader that keeps only the fields the protocol
    /// uses (`type`, `uuid`, `firmware`, `seq`) and skips the rest: on the hot path (every heartbeat)
    /// it allocates nothing but those strings, where `JSONSerialization` builds a whole dictionary.
    static func parse(_ buffer: ByteBuffer) throws(ParseError) -> DeviceMessage {
        let fields: Fields
        do {
            fields = try buffer.withUnsafeReadableBytes { bytes throws(ParseError) -> Fields in
                var reader = FlatJSONReader(bytes: bytes)
                return try reader.readObject()
            }
        }
        guard case .string(let type)? = fields.type else { throw .missingType }
        switch type {
        case "hello":
            var uuid = "", firmware = ""
            if case .string(let s)? = fields.uuid { uuid = s }
            if case .string(let s)? = fields.firmware { firmware = s }
            return .hello(uuid: uuid, firmware: firmware)
        case "heartbeat":
            if case .integer(let n)? = fields.seq { return .heartbeat(seq: n) }
            return .heartbeat(seq: nil)
        default:
            return .other(type: type)
        }
    }

    /// A UUID in canonical form (8-4-4-4-12 hex digits), lowercased; nil when it is not one.
    static func canonicalUUID(_ text: String) -> String? {
        let utf8 = text.utf8
        guard utf8.count == 36 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, c) in utf8.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                out.append(c)
            } else {
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): out.append(c)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): out.append(c + 32)
                default: return nil
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case other
    }

    struct Fields {
        var type: Value?
        var uuid: Value?
        var firmware: Value?
        var seq: Value?
    }
}

/// Reads one JSON object (RFC 8259) from bytes, keeping the protocol's top-level fields.
struct FlatJSONReader {
    typealias ParseError = DeviceMessage.ParseError
    let bytes: UnsafeRawBufferPointer
    var i = 0
    static let maxDepth = 32

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws(ParseError) {
        skipWhitespace()
        guard peek == c else { throw .malformed }
        i += 1
    }

    mutating func readObject() throws(ParseError) -> DeviceMessage.Fields {
        var fields = DeviceMessage.Fields()
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw .malformed }
                let key = try readString()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                let value = try readValue(depth: 1)
                switch key {
                case "type": fields.type = value
                case "uuid": fields.uuid = value
                case "firmware": fields.firmware = value
                case "seq": fields.seq = value
                default: break
                }
                skipWhitespace()
                guard let c = peek else { throw .malformed }
                i += 1
                if c == UInt8(ascii: "}") { break }
                guard c == UInt8(ascii: ",") else { throw .malformed }
            }
        }
        skipWhitespace()
        guard i == bytes.count else { throw .malformed }
        return fields
    }

    private mutating func readValue(depth: Int) throws(ParseError) -> DeviceMessage.Value {
        guard depth <= Self.maxDepth, let c = peek else { throw .malformed }
        switch c {
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try readNumber()
        case UInt8(ascii: "t"): try literal("true"); return .other
        case UInt8(ascii: "f"): try literal("false"); return .other
        case UInt8(ascii: "n"): try literal("null"); return .other
        case UInt8(ascii: "{"):
            i += 1
            skipWhitespace()
            if peek == UInt8(ascii: "}") { i += 1; return .other }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw .malformed }
                _ = try readString()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                _ = try readValue(depth: depth + 1)
                skipWhitespace()
                guard let d = peek else { throw .malformed }
                i += 1
                if d == UInt8(ascii: "}") { return .other }
                guard d == UInt8(ascii: ",") else { throw .malformed }
            }
        case UInt8(ascii: "["):
            i += 1
            skipWhitespace()
            if peek == UInt8(ascii: "]") { i += 1; return .other }
            while true {
                skipWhitespace()
                _ = try readValue(depth: depth + 1)
                skipWhitespace()
                guard let d = peek else { throw .malformed }
                i += 1
                if d == UInt8(ascii: "]") { return .other }
                guard d == UInt8(ascii: ",") else { throw .malformed }
            }
        default:
            throw .malformed
        }
    }

    private mutating func literal(_ word: StaticString) throws(ParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw .malformed }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw .malformed }
        i += n
    }

    private mutating func readNumber() throws(ParseError) -> DeviceMessage.Value {
        let start = i
        var negative = false
        if peek == UInt8(ascii: "-") { negative = true; i += 1 }
        guard let first = peek, first >= 0x30, first <= 0x39 else { throw .malformed }
        var value: Int64 = 0
        var overflow = false
        if first == 0x30 {
            i += 1
        } else {
            while let d = peek, d >= 0x30, d <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int64(d - 0x30))
                overflow = overflow || o1 || o2
                value = s
                i += 1
            }
        }
        var integral = true
        if peek == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard let d = peek, d >= 0x30, d <= 0x39 else { throw .malformed }
            while let d = peek, d >= 0x30, d <= 0x39 { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let d = peek, d >= 0x30, d <= 0x39 else { throw .malformed }
            while let d = peek, d >= 0x30, d <= 0x39 { i += 1 }
        }
        _ = start
        guard integral, !overflow else { return .other }
        return .integer(negative ? -value : value)
    }

    /// Reads a string starting at its opening quote; rejects control characters and invalid UTF-8.
    private mutating func readString() throws(ParseError) -> String {
        i += 1 // opening quote
        let start = i
        // Fast path: no escapes.
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self) else { throw .malformed }
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw .malformed }
            i += 1
        }
        guard i < bytes.count else { throw .malformed }
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") {
                guard let s = String(validating: out, as: UTF8.self) else { throw .malformed }
                return s
            }
            if c < 0x20 { throw .malformed }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard let e = peek else { throw .malformed }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try readHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { throw .malformed }
                    i += 2
                    let low = try readHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw .malformed }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw .malformed
                }
                guard let u = Unicode.Scalar(scalar) else { throw .malformed }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw .malformed
            }
        }
        throw .malformed
    }

    private mutating func readHex4() throws(ParseError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw .malformed }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            i += 1
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw .malformed
            }
            v = v << 4 | d
        }
        return v
    }
}
