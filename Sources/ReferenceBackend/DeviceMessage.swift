import Foundation
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

    static func parse(_ buffer: ByteBuffer) throws(ParseError) -> DeviceMessage {
        let data = Data(buffer.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw .malformed }
        guard let type = object["type"] as? String else { throw .missingType }
        switch type {
        case "hello":
            return .hello(uuid: object["uuid"] as? String ?? "", firmware: object["firmware"] as? String ?? "")
        case "heartbeat":
            if let n = object["seq"] as? Int { return .heartbeat(seq: Int64(n)) }
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
}
