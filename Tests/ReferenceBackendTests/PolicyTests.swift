import DeviceModel
import Testing
@testable import ReferenceBackend

@Suite struct PolicyTests {
    @Test func lookupStrategyIsChosenPerFirmwareRange() throws {
        let policy = try LookupPolicy(parsing: "scan:>=3.8.0-b3")
        #expect(policy.kind(for: FirmwareVersion("3.8.0-b3")!) == .scan)
        #expect(policy.kind(for: FirmwareVersion("3.9.1")!) == .scan)
        #expect(policy.kind(for: FirmwareVersion("3.8.0-b2")!) == .indexed)
        #expect(policy.kind(for: FirmwareVersion("3.7.2")!) == .indexed)
        #expect(try LookupPolicy(parsing: "scan").kind(for: FirmwareVersion("1.0.0")!) == .scan)
        #expect(try LookupPolicy(parsing: "indexed").kind(for: FirmwareVersion("3.8.0-b3")!) == .indexed)
        let ordered = try LookupPolicy(parsing: "indexed:3.8.0-b4; scan:>=3.8.0-b3")
        #expect(ordered.kind(for: FirmwareVersion("3.8.0-b4")!) == .indexed)
        #expect(ordered.kind(for: FirmwareVersion("3.8.0-b3")!) == .scan)
        #expect(ordered.description == "indexed:3.8.0-b4; scan:>=3.8.0-b3")
    }

    @Test func badLookupStrategiesAreRejectedWithAReason() {
        #expect(throws: LookupPolicy.ParseError.self) { try LookupPolicy(parsing: "") }
        #expect(throws: LookupPolicy.ParseError.self) { try LookupPolicy(parsing: "fullscan") }
        #expect(throws: LookupPolicy.ParseError.self) { try LookupPolicy(parsing: "scan:>=banana") }
        do { _ = try LookupPolicy(parsing: "fullscan") } catch { #expect("\(error)".contains("\"fullscan\"")) }
    }

    @Test func admissionLimitsParse() throws {
        #expect(try AdmissionPolicy(parsing: "off").isOff)
        let l = try AdmissionPolicy(parsing: "rate=200 burst=50 max-pending=10")
        #expect(l.connectRate == 200 && l.burst == 50 && l.maxPending == 10)
        #expect(try AdmissionPolicy(parsing: "max-pending=5").connectRate == nil)
        #expect(throws: AdmissionPolicy.ParseError.self) { try AdmissionPolicy(parsing: "rate=-1") }
        #expect(throws: AdmissionPolicy.ParseError.self) { try AdmissionPolicy(parsing: "speed=3") }
        #expect(throws: AdmissionPolicy.ParseError.self) { try AdmissionPolicy(parsing: "burst=3") }
    }

    @Test func admissionLimitsTakeARetryAfterAndRoundTripThroughTheirText() throws {
        let l = try AdmissionPolicy(parsing: "rate=2.5 max-pending=10 retry-after=30s")
        #expect(l == AdmissionPolicy(connectRate: 2.5, burst: nil, maxPending: 10, retryAfter: 30 * Time.second))
        #expect(l.burst == nil && l.effectiveBurst == 2.5, "default burst: one second's worth of the rate, as in the simulation")
        for text in ["rate=200 burst=400 max-pending=100 retry-after=1500ms", "max-pending=5 retry-after=2s", "rate=0.5 burst=3", "off"] {
            #expect(try AdmissionPolicy(parsing: AdmissionPolicy(parsing: text).description) == AdmissionPolicy(parsing: text), "\(text)")
        }
        #expect(throws: AdmissionPolicy.ParseError.self) { try AdmissionPolicy(parsing: "rate=5 retry-after=soon") }
    }

    @Test func theUpgradeGateRefusesOnPendingBeforeTheBucketAndSaysWhenToComeBack() {
        let core = BackendCore(configuration: {
            var c = ReferenceBackendConfiguration()
            c.admission = AdmissionPolicy(connectRate: 1, burst: 1, maxPending: 1)
            return c
        }())
        _ = core.metrics.beginPending(limit: nil)
        guard case .admission(.admissionPending, 1)? = core.admitUpgrade() else { Issue.record("pending first"); return }
        core.metrics.endPending()
        #expect(core.admitUpgrade() == nil, "the pending refusal took no token")
        guard case .admission(.admissionRate, 1)? = core.admitUpgrade() else { Issue.record("then the bucket"); return }
    }

    @Test func deviceMessagesParse() throws {
        func parse(_ s: String) throws(DeviceMessage.ParseError) -> DeviceMessage {
            try DeviceMessage.parse(ByteBufferAllocatorShim.buffer(s))
        }
        #expect(try parse(#"{"type":"hello","uuid":"u","firmware":"3.8.0"}"#) == .hello(uuid: "u", firmware: "3.8.0"))
        #expect(try parse(#"{"type":"heartbeat","seq":42}"#) == .heartbeat(seq: 42))
        #expect(try parse(#"{"type":"heartbeat"}"#) == .heartbeat(seq: nil))
        #expect(try parse(#"{"type":"reboot"}"#) == .other(type: "reboot"))
        #expect(throws: DeviceMessage.ParseError.malformed) { try parse("{not json") }
        #expect(throws: DeviceMessage.ParseError.malformed) { try parse("[1,2]") }
        #expect(throws: DeviceMessage.ParseError.missingType) { try parse(#"{"kind":"hello"}"#) }
        #expect(throws: DeviceMessage.ParseError.missingType) { try parse(#"{"type":7}"#) }
        // Other fields, nested values, escapes and whitespace are read and skipped correctly.
        #expect(try parse(" { \"extra\": {\"a\": [1, 2.5e3, true, null, \"x\\\"y\"]}, \"type\" : \"hel\\u006co\", \"uuid\":\"u\",\"firmware\":\"3.8.0-b3\" } ")
                == .hello(uuid: "u", firmware: "3.8.0-b3"))
        #expect(try parse(#"{"type":"heartbeat","seq":1.5}"#) == .heartbeat(seq: nil))
        #expect(try parse(#"{"type":"heartbeat","seq":-3}"#) == .heartbeat(seq: -3))
        #expect(try parse(#"{"type":"caf\u00e9 \ud83d\ude00"}"#) == .other(type: "café 😀"))
        for bad in [#"{"type":"hello"} x"#, #"{"type":"hello",}"#, #"{"type":01}"#, #"{"type":"a\qb"}"#, #"{'type':'hello'}"#,
                    #"{"type":"\ud83d"}"#, #"{"type":tru}"#, "", "{", #"{"type":"x"#, #"{"a":[1,]}"#] {
            #expect(throws: DeviceMessage.ParseError.malformed, "\(bad)") { try parse(bad) }
        }
        #expect(DeviceMessage.canonicalUUID("8C1B6F5E-0D3A-4E2B-9F1C-2A3B4C5D6E7F") == "8c1b6f5e-0d3a-4e2b-9f1c-2a3b4c5d6e7f")
        #expect(DeviceMessage.canonicalUUID("8c1b6f5e0d3a4e2b9f1c2a3b4c5d6e7f") == nil)
        #expect(DeviceMessage.canonicalUUID("zc1b6f5e-0d3a-4e2b-9f1c-2a3b4c5d6e7f") == nil)
    }
}

import NIOCore
enum ByteBufferAllocatorShim {
    static func buffer(_ s: String) -> ByteBuffer { ByteBufferAllocator().buffer(string: s) }
}
