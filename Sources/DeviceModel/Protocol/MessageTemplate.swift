/// A message a device sends, with placeholders filled per device and per message: `{uuid}`,
/// `{firmware}`, `{seq}` (the heartbeat's sequence number). Parsed once per profile; rendering
/// writes the parts in order.
public struct MessageTemplate: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case text(String)
        case uuid, firmware, seq
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case unknownPlaceholder(String)
        case unclosedBrace
        public var description: String {
            switch self {
            case .unknownPlaceholder(let p): return "unknown placeholder {\(p)}; use {uuid}, {firmware} or {seq}"
            case .unclosedBrace: return "a \"{\" opens a placeholder that is never closed"
            }
        }
    }

    public let parts: [Part]
    public let text: String

    /// Parses a template. A `{` that does not start one of the placeholders is literal text when
    /// followed by `"` or whitespace (JSON), so `{"type":"hello","uuid":"{uuid}"}` reads as meant.
    public init(parsing text: String) throws(ParseError) {
        self.text = text
        var parts: [Part] = []
        var literal = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "{" {
                let next = text.index(after: i)
                if next < text.endIndex, text[next].isLetter {
                    guard let close = text[next...].firstIndex(of: "}") else { throw .unclosedBrace }
                    let name = String(text[next..<close])
                    let part: Part
                    switch name {
                    case "uuid": part = .uuid
                    case "firmware": part = .firmware
                    case "seq": part = .seq
                    default: throw .unknownPlaceholder(name)
                    }
                    if !literal.isEmpty { parts.append(.text(literal)); literal = "" }
                    parts.append(part)
                    i = text.index(after: close)
                    continue
                }
            }
            literal.append(c)
            i = text.index(after: i)
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        self.parts = parts
    }

    /// Whether the template uses a placeholder.
    public func uses(_ part: Part) -> Bool { parts.contains(part) }

    /// The message for one device; the UUID and the firmware are spelled out only when the
    /// template uses them (a heartbeat usually needs neither).
    public func render(uuid: DeviceUUID, firmware: FirmwareVersion, seq: UInt32) -> String {
        var out = ""
        out.reserveCapacity(text.count + 48)
        for p in parts {
            switch p {
            case .text(let t): out += t
            case .uuid: out += uuid.description
            case .firmware: out += firmware.description
            case .seq: out += String(seq)
            }
        }
        return out
    }

    public var description: String { text }
}
