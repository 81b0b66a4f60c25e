import DeviceModel
import Testing
@testable import FleetSim

@Suite struct UnitsTests {
    @Test(arguments: [
        ("30s", 30 * Time.second), ("16h", 16 * Time.hour), ("2us", 2 * Time.microsecond),
        ("2µs", 2 * Time.microsecond), ("2μs", 2 * Time.microsecond), ("1.5ms", 1_500_000),
        ("0.8ms", 800_000), ("13h10m", 13 * Time.hour + 10 * Time.minute), ("250ns", 250), ("0", 0),
        ("0s", 0), ("1m30s", 90 * Time.second), ("1d", 24 * Time.hour), (" 20ms ", 20 * Time.millisecond),
        (".5s", 500 * Time.millisecond), ("1.0000000005s", 1_000_000_001), ("2.25h", 2 * Time.hour + 15 * Time.minute),
    ] as [(String, Nanoseconds)])
    func durationsInHumanUnits(_ text: String, _ expected: Nanoseconds) {
        #expect(Units.duration(text) == expected)
    }

    @Test(arguments: ["30", "1.5", "", "s", "-5s", "5 s", "5sec", "1hour", "5mss", "1.s", "3x", "1e3s",
                      "9999999999999999999h", "300000000h"])
    func durationsWithoutAUnitOrMalformedAreRejected(_ text: String) {
        #expect(Units.duration(text) == nil)
    }

    @Test func durationsFormatTheWayTheyAreRead() {
        #expect(Units.format(duration: 17 * Time.hour) == "17h")
        #expect(Units.format(duration: 13 * Time.hour + 10 * Time.minute) == "13h10m")
        #expect(Units.format(duration: 90 * Time.second) == "1m30s")
        #expect(Units.format(duration: 1_500_000) == "1.5ms")
        #expect(Units.format(duration: 250) == "250ns")
        #expect(Units.format(duration: 0) == "0s")
        for ns: Nanoseconds in [1, 999, 1_000, 1_500_000, 61 * Time.second + 5, 17 * Time.hour, 3 * Time.hour + 1] {
            #expect(Units.duration(Units.format(duration: ns)) == ns)
        }
    }

    @Test(arguments: [
        ("4GiB", Int64(4) << 30), ("64KiB", 64 << 10), ("512MB", 512_000_000), ("1.5GiB", 3 << 29),
        ("100", 100), ("100B", 100), ("10kB", 10_000), ("256 MiB", 256 << 20), ("0", 0),
    ] as [(String, Int64)])
    func sizesInBinaryAndDecimalUnits(_ text: String, _ expected: Int64) {
        #expect(Units.bytes(text) == expected)
    }

    @Test(arguments: ["", "GiB", "-1", "4Gib", "4 gigabytes", "1.5.2MB", "99999999999TiB"])
    func malformedSizesAreRejected(_ text: String) {
        #expect(Units.bytes(text) == nil)
    }

    @Test(arguments: [("25%", 0.25), ("0.25", 0.25), ("100%", 1.0), ("0", 0.0), ("1", 1.0), ("50 %", 0.5), ("12.5%", 0.125)])
    func fractionsAsPercentOrDecimal(_ text: String, _ expected: Double) {
        #expect(Units.fraction(text) == expected)
    }

    @Test(arguments: ["150%", "1.5", "-10%", "", "%", "half", "25%%"])
    func fractionsOutsideZeroToOneOrMalformedAreRejected(_ text: String) {
        #expect(Units.fraction(text) == nil)
    }

    @Test(arguments: [("200/s", 200.0), ("12000/m", 200.0), ("200", 200.0), ("7200/h", 2.0), ("1.5/s", 1.5),
                      ("60/min", 1.0)])
    func ratesPerSecond(_ text: String, _ expected: Double) {
        #expect(Units.rate(text) == expected)
    }

    @Test(arguments: ["", "/s", "200/d", "-5/s", "fast", "200/s/s"])
    func malformedRatesAreRejected(_ text: String) {
        #expect(Units.rate(text) == nil)
    }
}
