import Foundation

/// Parsers for the human units of scenario files (`30s`, `4GiB`, `25%`, `200/s`), shared with
/// the command line so that a flag and a YAML key accept the same text.
///
/// Each returns nil for text it does not accept; the caller owns the error message, because only
/// the caller knows which field or flag was wrong.
public enum Units {
    // MARK: Durations

    private static let durationUnits: [(suffix: String, nanoseconds: Nanoseconds)] = [
        // Longest suffixes first, so that "ms" is not read as "m" followed by garbage.
        ("ns", Time.nanosecond), ("us", Time.microsecond), ("µs", Time.microsecond), ("μs", Time.microsecond),
        ("ms", Time.millisecond), ("s", Time.second), ("m", Time.minute), ("h", Time.hour), ("d", 24 * Time.hour),
    ]

    /// A non-negative duration: one or more `<number><unit>` parts (`30s`, `1.5ms`, `13h10m`,
    /// `250ns`), units `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`. A bare number is rejected,
    /// since `30` could mean seconds or milliseconds, except `0`, which means the same in every unit.
    /// Decimal parts are exact and rounded to the nearest nanosecond.
    public static func duration(_ text: String) -> Nanoseconds? {
        let s = Substring(text.trimmingWhitespace())
        if s == "0" { return 0 }
        var rest = s
        var total: Nanoseconds = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            guard let (number, afterNumber) = splitDecimal(rest) else { return nil }
            rest = afterNumber
            guard let unit = durationUnits.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            // A unit must not be followed directly by a letter ("5mss", "1hour").
            if let next = rest.first, next.isLetter { return nil }
            guard let part = number.scaled(by: unit.nanoseconds) else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(part)
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }

    /// The one duration formatter: a duration the way `duration(_:)` reads it back (`17h`,
    /// `13h10m`, `1m30s`, `1.5ms`), first rounded down to a multiple of `resolution` where a reader
    /// wants no more digits than that (milestones: whole seconds; a summary line: tenths).
    public static func format(duration ns: Nanoseconds, resolution: Nanoseconds = 1) -> String {
        let ns = resolution > 1 ? ns / resolution * resolution : ns
        if ns == 0 { return "0s" }
        if ns < 0 { return "-" + format(duration: ns == .min ? .max : -ns) }
        if ns < Time.second {
            for (unit, size) in [("ms", Time.millisecond), ("us", Time.microsecond)] where ns >= size {
                return decimal(ns, size) + unit
            }
            return "\(ns)ns"
        }
        var out = ""
        var rest = ns
        for (unit, size) in [("h", Time.hour), ("m", Time.minute)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        if rest > 0 { out += decimal(rest, Time.second) + "s" }
        return out
    }

    /// `value / unit` in decimal, without trailing zeros: decimal(1_500_000, 1_000_000) = "1.5".
    private static func decimal(_ value: Int64, _ unit: Int64) -> String {
        let whole = value / unit
        let fraction = value % unit
        if fraction == 0 { return "\(whole)" }
        var digits = String(fraction)
        let width = String(unit).count - 1
        digits = String(repeating: "0", count: max(0, width - digits.count)) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    // MARK: Sizes

    /// The one size formatter, as reports, milestones and messages write a size: binary units with
    /// one decimal (`512 B`, `64.0 KiB`, `1.9 GiB`).
    public static func format(bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }


    private static let byteUnits: [(suffix: String, bytes: Int64)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
        ("kB", 1_000), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("B", 1),
    ]

    /// A non-negative size in bytes: `4GiB`, `64KiB`, `1.5GiB` (binary, 1024), `512MB`, `10kB`
    /// (decimal, 1000), `100B` or a bare `100` (bytes). Rounded to the nearest byte.
    public static func bytes(_ text: String) -> Int64? {
        let s = Substring(text.trimmingWhitespace())
        guard let (number, afterNumber) = splitDecimal(s) else { return nil }
        let suffix = afterNumber.drop(while: { $0 == " " })
        if suffix.isEmpty { return number.scaled(by: 1) }
        guard let unit = byteUnits.first(where: { $0.suffix == suffix }) else { return nil }
        return number.scaled(by: unit.bytes)
    }

    // MARK: Fractions and rates

    /// A fraction between 0 and 1 inclusive: `25%` or `0.25`.
    public static func fraction(_ text: String) -> Double? {
        var s = Substring(text.trimmingWhitespace())
        var scale = 1.0
        if s.hasSuffix("%") {
            s = s.dropLast().trimmingWhitespace()
            scale = 100
        }
        guard let (number, rest) = splitDecimal(s), rest.isEmpty else { return nil }
        let value = number.double / scale
        return (0...1).contains(value) ? value : nil
    }

    private static let rateUnits: [(suffix: String, seconds: Double)] = [
        ("/s", 1), ("/sec", 1), ("/m", 60), ("/min", 60), ("/h", 3600),
    ]

    /// A non-negative rate in events per second: `200/s`, `12000/m` (per minute), `50/h`, or a bare
    /// `200` (per second).
    public static func rate(_ text: String) -> Double? {
        let s = Substring(text.trimmingWhitespace())
        guard let (number, afterNumber) = splitDecimal(s) else { return nil }
        let suffix = afterNumber.filter { $0 != " " }
        if suffix.isEmpty { return number.double }
        guard let unit = rateUnits.first(where: { $0.suffix == suffix }) else { return nil }
        return number.double / unit.seconds
    }

    // MARK: Decimal numbers

    /// An unsigned decimal written as digits, optionally with a fractional part (`12`, `1.5`, `.5`),
    /// kept exact so that `1.1ms` is exactly 1,100,000 ns.
    struct Decimal {
        var whole: Substring
        var fraction: Substring

        var double: Double { Double("\(whole.isEmpty ? "0" : whole).\(fraction.isEmpty ? "0" : fraction)") ?? .nan }

        /// `self × unit`, rounded half up, or nil on overflow. Exact to 18 fractional digits.
        func scaled(by unit: Int64) -> Int64? {
            guard let w = Int64(whole.isEmpty ? "0" : whole) else { return nil }
            let (product, overflow) = w.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            let digits = fraction.prefix(18)
            guard !digits.isEmpty, let numerator = Int64(digits) else { return product }
            var denominator: Int64 = 1
            for _ in digits { denominator *= 10 }
            // numerator / denominator < 1, so the quotient is below `unit` and cannot overflow.
            let (quotient, remainder) = denominator.dividingFullWidth(numerator.multipliedFullWidth(by: unit))
            let part = quotient + (remainder >= denominator - remainder ? 1 : 0)
            let (sum, overflow2) = product.addingReportingOverflow(part)
            return overflow2 ? nil : sum
        }
    }

    /// Splits a leading `123`, `1.5` or `.5` from `s`. No sign, no exponent.
    static func splitDecimal(_ s: Substring) -> (Decimal, Substring)? {
        let whole = s.prefix(while: { $0.isASCIIDigitCharacter })
        var rest = s[whole.endIndex...]
        var fraction = Substring()
        if rest.first == "." {
            rest = rest.dropFirst()
            fraction = rest.prefix(while: { $0.isASCIIDigitCharacter })
            guard !fraction.isEmpty else { return nil }
            rest = rest[fraction.endIndex...]
        }
        guard !whole.isEmpty || !fraction.isEmpty else { return nil }
        return (Decimal(whole: whole, fraction: fraction), rest)
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace (no Foundation needed).
    public func trimmingWhitespace() -> Substring {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { !$0.isWhitespace }),
              let last = s.lastIndex(where: { !$0.isWhitespace }) else { return s[s.endIndex...] }
        return s[first...last]
    }
}
