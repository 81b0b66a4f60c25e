/// Incremental UTF-8 validation (RFC 3629), so a fragmented text message fails on the first bad
/// byte rather than after the whole message has been buffered.
struct UTF8Validator {
    /// Continuation bytes still expected for the current code point.
    private var pending: UInt8 = 0
    /// Allowed range for the next byte (the second byte of a sequence is sometimes narrower).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// True when no code point is half-way through.
    var isComplete: Bool { pending == 0 }

    /// Feeds bytes; returns false as soon as the sequence cannot be valid UTF-8.
    mutating func feed<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        for byte in bytes {
            if pending == 0 {
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: pending = 1; lower = 0x80; upper = 0xBF
                case 0xE0: pending = 2; lower = 0xA0; upper = 0xBF
                case 0xE1...0xEC, 0xEE, 0xEF: pending = 2; lower = 0x80; upper = 0xBF
                case 0xED: pending = 2; lower = 0x80; upper = 0x9F
                case 0xF0: pending = 3; lower = 0x90; upper = 0xBF
                case 0xF1...0xF3: pending = 3; lower = 0x80; upper = 0xBF
                case 0xF4: pending = 3; lower = 0x80; upper = 0x8F
                default: return false
                }
            } else {
                guard byte >= lower && byte <= upper else { return false }
                pending -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// Validates a complete buffer of bytes.
    static func isValid<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var v = UTF8Validator()
        return v.feed(bytes) && v.isComplete
    }
}
