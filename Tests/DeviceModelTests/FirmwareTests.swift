import Testing
@testable import DeviceModel

@Test func prereleasesSortBeforeTheirRelease() {
    let ordered = ["3.7.2", "3.8.0-b2", "3.8.0-b3", "3.8.0-b10", "3.8.0", "3.8.1", "4.0.0-rc.1", "4.0.0"]
        .map { FirmwareVersion($0)! }
    #expect(ordered == ordered.sorted())
    for (a, b) in zip(ordered, ordered.dropFirst()) { #expect(a < b) }
}

@Test func buildMetadataDoesNotAffectOrdering() {
    #expect(FirmwareVersion("3.8.0+abc")! == FirmwareVersion("3.8.0")!)
    #expect(FirmwareVersion("v3.8.0")! == FirmwareVersion("3.8.0")!)
}

@Test func malformedVersionsAreRejected() {
    for bad in ["", "3..1", "3.8.0-", "a.b.c", "3.8.0.1", "3.8.0-b3+", "-3"] {
        #expect(FirmwareVersion(bad) == nil, "\(bad)")
    }
}

@Test func rangesMatchTheVersionsTheySay() throws {
    let cases: [(String, [String], [String])] = [
        (">=3.8.0-b3", ["3.8.0-b3", "3.8.0-b4", "3.8.0", "3.9.1"], ["3.8.0-b2", "3.7.9"]),
        ("<3.8.0-b3", ["3.8.0-b2", "3.7.2"], ["3.8.0-b3", "3.8.0"]),
        (">=3.7 <3.9", ["3.7.0", "3.7.0-b1", "3.8.5"], ["3.6.9", "3.9.0", "3.9.0-b1"]),
        ("3.8.x", ["3.8.0", "3.8.0-b3", "3.8.7"], ["3.7.9", "3.9.0"]),
        ("3.8.0-b3", ["3.8.0-b3"], ["3.8.0-b4", "3.8.0"]),
        ("*", ["0.0.1", "9.9.9-rc1"], []),
        ("<3.0 || >=3.8.0", ["2.9.9", "3.8.0"], ["3.7.0"]),
        (">3.7", ["3.8.0", "3.8.0-b1"], ["3.7.9"]),
        ("<=3.7", ["3.7.9"], ["3.8.0-b1"]),
    ]
    for (text, inside, outside) in cases {
        let range = try FirmwareRange(parsing: text)
        for v in inside { #expect(range.contains(FirmwareVersion(v)!), "\(text) should contain \(v)") }
        for v in outside { #expect(!range.contains(FirmwareVersion(v)!), "\(text) should not contain \(v)") }
    }
}

@Test func impossibleAndMalformedRangesAreErrors() {
    #expect(throws: FirmwareRange.ParseError.impossible(">=3.9 <3.8")) { try FirmwareRange(parsing: ">=3.9 <3.8") }
    #expect(throws: FirmwareRange.ParseError.impossible(">3.8.0 <3.8.0")) { try FirmwareRange(parsing: ">3.8.0 <3.8.0") }
    #expect(throws: FirmwareRange.ParseError.badComparator("=>3.8")) { try FirmwareRange(parsing: "=>3.8") }
    #expect(throws: FirmwareRange.ParseError.empty) { try FirmwareRange(parsing: " ") }
}
