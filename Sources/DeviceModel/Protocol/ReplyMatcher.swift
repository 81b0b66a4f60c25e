/// Recognises one kind of reply from the cloud.
///
/// - `jsonType("welcome")`: a JSON object whose `"type"` member is that string (whitespace and
///   member order as the server likes); a `"seq"` member, when present, is the sequence number.
/// - `pattern("PONG {seq}")`: the whole message, where `*` matches any text and `{seq}` a
///   decimal sequence number.
public enum ReplyMatcher: Sendable, Equatable, CustomStringConvertible {
    case jsonType(String)
    case pattern(String)

    /// nil: no match; otherwise the sequence number found (nil when the reply carries none).
    public func match(_ text: String) -> UInt32?? {
        switch self {
        case .jsonType(let type):
            guard JSONPeek.string(member: "type", in: text) == type else { return nil }
            return .some(JSONPeek.number(member: "seq", in: text))
        case .pattern(let pattern):
            return Self.glob(Substring(pattern), Substring(text))
        }
    }

    public var description: String {
        switch self {
        case .jsonType(let t): return "{type: \(t)}"
        case .pattern(let p): return p
        }
    }

    /// Matches `*` and `{seq}` against the whole text.
    static func glob(_ pattern: Substring, _ text: Substring) -> UInt32?? {
        if pattern.isEmpty { return text.isEmpty ? .some(nil) : nil }
        if pattern.hasPrefix("{seq}") {
            let digits = text.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let n = UInt32(digits) else { return nil }
            guard let rest = glob(pattern.dropFirst(5), text.dropFirst(digits.count)) else { return nil }
            return .some(rest ?? n)
        }
        if pattern.first == "*" {
            var t = text
            while true {
                if let m = glob(pattern.dropFirst(), t) { return m }
                if t.isEmpty { return nil }
                t = t.dropFirst()
            }
        }
        guard let c = text.first, c == pattern.first else { return nil }
        return glob(pattern.dropFirst(), text.dropFirst())
    }
}

/// Reads one top-level member of a JSON object without building the object: enough to tell a
/// welcome from an ack, and cheap enough for every message of a live run.
enum JSONPeek {
    /// The string value of `"member"` at the top level, or nil.
    static func string(member: String, in text: String) -> String? {
        guard case .string(let s)? = value(member: member, in: text) else { return nil }
        return s
    }

    static func number(member: String, in text: String) -> UInt32? {
        guard case .number(let n)? = value(member: member, in: text) else { return nil }
        return n
    }

    enum Value { case string(String), number(UInt32), other }

    static func value(member: String, in text: String) -> Value? {
        let u = Array(text.utf8)
        var i = 0
        func skipSpace() { while i < u.count, u[i] == 0x20 || u[i] == 0x09 || u[i] == 0x0A || u[i] == 0x0D { i += 1 } }
        func readString() -> String? {
            guard i < u.count, u[i] == 0x22 else { return nil }
            i += 1
            var bytes: [UInt8] = []
            while i < u.count, u[i] != 0x22 {
                if u[i] == 0x5C { i += 1 }   // an escaped character is taken as it is
                if i < u.count { bytes.append(u[i]); i += 1 }
            }
            guard i < u.count else { return nil }
            i += 1
            return String(decoding: bytes, as: UTF8.self)
        }
        /// Skips a value of any kind (nested objects and arrays by depth).
        func skipValue() {
            skipSpace()
            guard i < u.count else { return }
            if u[i] == 0x22 { _ = readString(); return }
            var depth = 0
            while i < u.count {
                let c = u[i]
                if c == 0x22 { _ = readString(); continue }
                if c == 0x7B || c == 0x5B { depth += 1 }
                if c == 0x7D || c == 0x5D { if depth == 0 { return }; depth -= 1 }
                if c == 0x2C && depth == 0 { return }
                i += 1
            }
        }
        skipSpace()
        guard i < u.count, u[i] == 0x7B else { return nil }
        i += 1
        while true {
            skipSpace()
            guard let key = readString() else { return nil }
            skipSpace()
            guard i < u.count, u[i] == 0x3A else { return nil }
            i += 1
            skipSpace()
            if key == member {
                if i < u.count, u[i] == 0x22 { return readString().map(Value.string) }
                var n: UInt64 = 0, digits = 0
                while i < u.count, u[i] >= 0x30, u[i] <= 0x39, n <= UInt64(UInt32.max) {
                    n = n * 10 + UInt64(u[i] - 0x30); i += 1; digits += 1
                }
                return digits > 0 && n <= UInt64(UInt32.max) ? .number(UInt32(n)) : .other
            }
            skipValue()
            skipSpace()
            guard i < u.count, u[i] == 0x2C else { return nil }
            i += 1
        }
    }
}
