import Foundation

/// A firmware version in semantic-versioning form: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`.
///
/// Ordering follows SemVer 2.0 precedence (a pre-release sorts before its release:
/// `3.8.0-b2 < 3.8.0-b3 < 3.8.0 < 3.8.1`), with one deliberate refinement: alphanumeric
/// pre-release identifiers compare *naturally* (`b9 < b10`), because firmware teams number their
/// betas that way and strict ASCII order would put `b10` before `b9`. Build metadata is kept for
/// display and ignored for ordering, as SemVer requires.
public struct FirmwareVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int
    /// Dot-separated pre-release identifiers; empty for a release.
    public var prerelease: [String]
    public var build: String?

    public init(major: Int, minor: Int = 0, patch: Int = 0, prerelease: [String] = [], build: String? = nil) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
        self.build = build
    }

    /// Parses `3.8.0-b3`, `3.8.1`, and (leniently, for the common firmware habit) `v3.8.0`.
    /// Missing minor or patch parts are zero; use `FirmwareRange` for `3.8.x` patterns.
    public init?(_ text: String) {
        guard let parsed = FirmwareVersion.parse(text, allowPartial: true) else { return nil }
        self = parsed.version
    }

    /// Parses a version, reporting how many numeric parts were written (1…3) so that ranges can
    /// treat `3.7` as "3.7 and its patches".
    static func parse(_ text: String, allowPartial: Bool) -> (version: FirmwareVersion, parts: Int)? {
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
        if s.first == "v" || s.first == "V" { s = s.dropFirst() }
        var build: String?
        if let plus = s.firstIndex(of: "+") {
            build = String(s[s.index(after: plus)...])
            guard !build!.isEmpty, build!.allSatisfy(isIdentifierCharacter) else { return nil }
            s = s[..<plus]
        }
        var prerelease: [String] = []
        if let dash = s.firstIndex(of: "-") {
            let pre = s[s.index(after: dash)...]
            prerelease = pre.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !prerelease.isEmpty,
                  prerelease.allSatisfy({ !$0.isEmpty && $0.allSatisfy(isIdentifierCharacter) })
            else { return nil }
            s = s[..<dash]
        }
        let numbers = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(numbers.count), allowPartial || numbers.count == 3 else { return nil }
        var values: [Int] = []
        for part in numbers {
            guard !part.isEmpty, part.count <= 9, part.allSatisfy({ $0.isASCIIDigit }), let v = Int(part) else { return nil }
            values.append(v)
        }
        while values.count < 3 { values.append(0) }
        return (FirmwareVersion(major: values[0], minor: values[1], patch: values[2],
                                prerelease: prerelease, build: build), numbers.count)
    }

    public var description: String {
        var s = "\(major).\(minor).\(patch)"
        if !prerelease.isEmpty { s += "-" + prerelease.joined(separator: ".") }
        if let build { s += "+" + build }
        return s
    }

    public static func == (a: FirmwareVersion, b: FirmwareVersion) -> Bool {
        a.major == b.major && a.minor == b.minor && a.patch == b.patch && a.prerelease == b.prerelease
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major); hasher.combine(minor); hasher.combine(patch); hasher.combine(prerelease)
    }

    public static func < (a: FirmwareVersion, b: FirmwareVersion) -> Bool {
        if a.major != b.major { return a.major < b.major }
        if a.minor != b.minor { return a.minor < b.minor }
        if a.patch != b.patch { return a.patch < b.patch }
        // A release has higher precedence than any of its pre-releases.
        if a.prerelease.isEmpty || b.prerelease.isEmpty { return !a.prerelease.isEmpty && b.prerelease.isEmpty }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            return FirmwareVersion.identifierLess(x, y)
        }
        return a.prerelease.count < b.prerelease.count
    }

    /// SemVer identifier precedence: numeric identifiers numerically and below alphanumeric ones;
    /// alphanumeric identifiers by natural order (digit runs compared as numbers).
    static func identifierLess(_ x: String, _ y: String) -> Bool {
        let xNum = x.allSatisfy({ $0.isASCIIDigit }), yNum = y.allSatisfy({ $0.isASCIIDigit })
        switch (xNum, yNum) {
        case (true, true): return compareDigitRuns(Substring(x), Substring(y)) < 0
        case (true, false): return true
        case (false, true): return false
        case (false, false): return naturalLess(x, y)
        }
    }

    private static func naturalLess(_ x: String, _ y: String) -> Bool {
        var i = x.startIndex, j = y.startIndex
        while i < x.endIndex, j < y.endIndex {
            if x[i].isASCIIDigit, y[j].isASCIIDigit {
                let iEnd = x[i...].firstIndex(where: { !$0.isASCIIDigit }) ?? x.endIndex
                let jEnd = y[j...].firstIndex(where: { !$0.isASCIIDigit }) ?? y.endIndex
                let c = compareDigitRuns(x[i..<iEnd], y[j..<jEnd])
                if c != 0 { return c < 0 }
                i = iEnd; j = jEnd
            } else {
                if x[i] != y[j] { return x[i] < y[j] }
                i = x.index(after: i); j = y.index(after: j)
            }
        }
        return i == x.endIndex && j != y.endIndex
    }

    private static func compareDigitRuns(_ a: Substring, _ b: Substring) -> Int {
        let a = a.drop(while: { $0 == "0" }), b = b.drop(while: { $0 == "0" })
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        return a == b ? 0 : (a < b ? -1 : 1)
    }
}

private func isIdentifierCharacter(_ c: Character) -> Bool {
    c.isASCII && (c.isLetter || c.isNumber || c == "-")
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
