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
            guard JSONPeek.string(member: "type", in: text, equals: type) else { return nil }
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
/// welcome from an ack. It reads the message's UTF-8 in place and allocates nothing, since it
/// runs for every message of a live run.
enum JSONPeek {
    /// Whether the string value of `"member"` at the top level is exactly `expected`.
    static func string(member: String, in text: String, equals expected: String) -> Bool {
        var text = text
        return text.withUTF8 { u in
            guard let (start, end) = valueRange(member: member, in: u), end - start >= 2, u[start] == 0x22 else { return false }
            let inner = UnsafeBufferPointer(rebasing: u[(start + 1)..<(end - 1)])
            return inner.elementsEqual(expected.utf8)
        }
    }

    /// The value of `"member"` at the top level as a sequence number, or nil.
    static func number(member: String, in text: String) -> UInt32? {
        var text = text
        return text.withUTF8 { u in
            guard let (start, end) = valueRange(member: member, in: u) else { return nil }
            var n: UInt64 = 0
            for i in start..<end {
                guard u[i] >= 0x30, u[i] <= 0x39 else { return nil }
                n = n * 10 + UInt64(u[i] - 0x30)
                if n > UInt64(UInt32.max) { return nil }
            }
            return end > start ? UInt32(n) : nil
        }
    }

    /// Where the value of a top-level member lies (a string's range includes its quotes).
    static func valueRange(member: String, in u: UnsafeBufferPointer<UInt8>) -> (Int, Int)? {
        var i = 0
        func skipSpace() { while i < u.count, u[i] == 0x20 || u[i] == 0x09 || u[i] == 0x0A || u[i] == 0x0D { i += 1 } }
        /// Skips a string starting at `i` (a quote); false when it never ends.
        func skipString() -> Bool {
            i += 1
            while i < u.count, u[i] != 0x22 { i += u[i] == 0x5C ? 2 : 1 }
            guard i < u.count else { return false }
            i += 1
            return true
        }
        /// Skips a value of any kind (nested objects and arrays by depth).
        func skipValue() -> Bool {
            if i < u.count, u[i] == 0x22 { return skipString() }
            var depth = 0
            while i < u.count {
                let c = u[i]
                if c == 0x22 { guard skipString() else { return false }; continue }
                if c == 0x7B || c == 0x5B { depth += 1 }
                if c == 0x7D || c == 0x5D { if depth == 0 { return true }; depth -= 1 }
                if c == 0x2C && depth == 0 { return true }
                i += 1
            }
            return false
        }
        skipSpace()
        guard i < u.count, u[i] == 0x7B else { return nil }
        i += 1
        while true {
            skipSpace()
            guard i < u.count, u[i] == 0x22 else { return nil }
            let keyStart = i + 1
            guard skipString() else { return nil }
            let key = UnsafeBufferPointer(rebasing: u[keyStart..<(i - 1)])
            skipSpace()
            guard i < u.count, u[i] == 0x3A else { return nil }
            i += 1
            skipSpace()
            let valueStart = i
            guard skipValue() else { return nil }
            if key.elementsEqual(member.utf8) {
                var end = i
                while end > valueStart, [0x20, 0x09, 0x0A, 0x0D].contains(u[end - 1]) { end -= 1 }
                return (valueStart, end)
            }
            skipSpace()
            guard i < u.count, u[i] == 0x2C else { return nil }
            i += 1
        }
    }
}
