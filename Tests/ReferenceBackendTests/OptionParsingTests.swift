import NIOCore
import Testing
import ReferenceBackend

@Suite struct OptionParsingTests {
    @Test func sizesDurationsAndCountsParseAsHumansWriteThem() throws {
        #expect(try OptionParsing.size("2GiB", flag: "--memory-limit") == 2 << 30)
        #expect(try OptionParsing.size("512MiB", flag: "--memory-limit") == 512 << 20)
        #expect(try OptionParsing.size("4096", flag: "--max-frame-size") == 4096)
        #expect(try OptionParsing.duration("250ms", flag: "--restart-delay") == .milliseconds(250))
        #expect(try OptionParsing.duration("2m", flag: "--restart-delay") == .minutes(2))
        #expect(try OptionParsing.count("1M", flag: "--rows") == 1_000_000)
        #expect(try OptionParsing.count("100_000", flag: "--rows") == 100_000)
        #expect(try OptionParsing.rate("200/s", flag: "--admission-rate") == 200)
    }

    @Test func badValuesNameTheFlag() {
        let cases: [() throws -> Void] = [
            { _ = try OptionParsing.size("2 gigs", flag: "--memory-limit") },
            { _ = try OptionParsing.duration("10", flag: "--hello-timeout") },
            { _ = try OptionParsing.count("-3", flag: "--rows") },
            { _ = try OptionParsing.rate("fast", flag: "--admission-rate") },
        ]
        for (i, run) in cases.enumerated() {
            do { try run(); Issue.record("case \(i) should fail") } catch let e as OptionParsing.InvalidOption {
                #expect("\(e)".hasPrefix(e.flag + ": "))
                #expect(!"\(e)".contains("\n"))
            } catch { Issue.record("unexpected \(error)") }
        }
    }
}
