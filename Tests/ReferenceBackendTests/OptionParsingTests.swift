import NIOCore
import Testing
import DeviceModel
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

    @Test func flagsAcceptTheSameTextAsAScenarioFile() throws {
        #expect(try OptionParsing.duration("1m30s", flag: "--restart-delay") == .seconds(90))
        #expect(try OptionParsing.duration("13h10m", flag: "--restart-delay") == .minutes(13 * 60 + 10))
        #expect(try OptionParsing.duration("2us", flag: "--hello-timeout") == .microseconds(2))
        #expect(try OptionParsing.size("512MB", flag: "--memory-limit") == 512_000_000)
        #expect(try OptionParsing.size("1.5GiB", flag: "--memory-limit") == 3 << 29)
        #expect(try OptionParsing.rate("12000/m", flag: "--admission-rate") == 200)
        for (text, units) in [("1m30s", Units.duration("1m30s").map { TimeAmount.nanoseconds($0) })] {
            #expect(try OptionParsing.duration(text, flag: "--x") == units)
        }
        #expect(throws: OptionParsing.InvalidOption.self) { try OptionParsing.size("0", flag: "--memory-limit") }
        #expect(throws: OptionParsing.InvalidOption.self) { try OptionParsing.rate("0/s", flag: "--admission-rate") }
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

    @Test func listenAddressesTakeAnOptionalPortAndBracketedIPv6() throws {
        func parse(_ t: String) throws -> (String, Int?) { let a = try OptionParsing.listenAddress(t, flag: "--listen"); return (a.host, a.port) }
        #expect(try parse("127.0.0.1:8080") == ("127.0.0.1", 8080))
        #expect(try parse("127.0.0.1") == ("127.0.0.1", nil))
        #expect(try parse("localhost:0") == ("localhost", 0))
        #expect(try parse("[::1]:8080") == ("::1", 8080))
        #expect(try parse("[::1]") == ("::1", nil))
        #expect(try parse("::1") == ("::1", nil))
        #expect(try parse("0.0.0.0:9000") == ("0.0.0.0", 9000))
        for bad in ["", "[::1", "[::1]8080", "[::1]:", "host:", ":8080", "host:70000", "host:-1", "host:+80", "[1.2.3.4]:80", "a b:80", "http://x:80"] {
            do { _ = try parse(bad); Issue.record("\(bad) should fail") } catch let e as OptionParsing.InvalidOption {
                #expect(e.flag == "--listen")
                #expect("\(e)".hasPrefix("--listen: expected HOST, HOST:PORT or [IPV6]:PORT"))
                #expect(!"\(e)".contains("\n"))
            }
        }
    }
}
