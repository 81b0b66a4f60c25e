import Testing
@testable import DeviceModel

@Test func seededUUIDsAreStableAndDistinct() {
    let a = (0..<1_000).map { DeviceUUID(seed: 2020, index: UInt64($0)) }
    let b = (0..<1_000).map { DeviceUUID(seed: 2020, index: UInt64($0)) }
    let c = (0..<1_000).map { DeviceUUID(seed: 2021, index: UInt64($0)) }
    #expect(a == b)
    #expect(Set(a).count == 1_000)
    #expect(Set(a).isDisjoint(with: Set(c)))
    let text = a[0].description
    #expect(text.count == 36 && Array(text)[14] == "4")      // version 4
    #expect("89ab".contains(Array(text)[19]))                 // RFC 4122 variant
    #expect(DeviceUUID(text) == a[0])
}

@Test func aRosterReadsUUIDsAndFirmwareFromCSV() throws {
    let csv = """
    firmware,uuid
    3.7.2,0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89
    3.8.0-b3,{1B6F3F2E-6C1D-4C7A-9A8E-2F4D5C6B7A89}
    """
    let roster = try DeviceRoster(csv: csv, file: "devices.csv")
    #expect(roster.entries.count == 2)
    #expect(roster.entries[1].firmware == FirmwareVersion("3.8.0-b3"))
    #expect(roster.entries[0].uuid == DeviceUUID("0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89"))
}

@Test func aBadRosterLineNamesFileLineAndColumn() {
    let csv = "uuid,firmware\n0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89,3.7.2\nnot-a-uuid,3.7.2\n"
    #expect(throws: DeviceRoster.ParseError(file: "d.csv", line: 3, column: 1,
                                            message: "expected a UUID like 0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89, got \"not-a-uuid\"")) {
        try DeviceRoster(csv: csv, file: "d.csv")
    }
    let badFirmware = "0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89,3..2\n"
    #expect(throws: DeviceRoster.ParseError(file: "d.csv", line: 1, column: 38,
                                            message: "expected a firmware version like 3.8.0-b3, got \"3..2\"")) {
        try DeviceRoster(csv: badFirmware, file: "d.csv")
    }
}
