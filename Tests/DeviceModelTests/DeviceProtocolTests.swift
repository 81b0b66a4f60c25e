import Foundation
import Testing
@testable import DeviceModel

private let uuid = DeviceUUID("0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89")!
private let firmware = FirmwareVersion("3.8.0-b3")!

/// A message parsed as a JSON object, or nil when it is not one.
private func object(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
}

// MARK: Messages the device sends

@Test func theDefaultHelloIsJSONNamingTheDevice() throws {
    let hello = try #require(object(DeviceProtocol.default.helloText(uuid: uuid, firmware: firmware)))
    #expect(hello.count == 3)
    #expect(hello["type"] as? String == "hello")
    #expect(hello["uuid"] as? String == "0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89")
    #expect(hello["firmware"] as? String == "3.8.0-b3")
}

@Test func theDefaultHeartbeatIsJSONCarryingItsSequenceNumberAsANumber() throws {
    let text = DeviceProtocol.default.heartbeatText(uuid: uuid, firmware: firmware, seq: 4_000_000_123)
    let heartbeat = try #require(object(text))
    #expect(heartbeat.count == 2)
    #expect(heartbeat["type"] as? String == "heartbeat")
    #expect((heartbeat["seq"] as? NSNumber)?.uint32Value == 4_000_000_123)
    #expect(text.contains(#""seq":4000000123"#))
}

@Test func aTemplateFillsEveryPlaceholderWhereItStands() throws {
    let template = try MessageTemplate(parsing: "PING {seq} from {uuid} on {firmware}/{seq}")
    let uuid = DeviceUUID(high: 0x0123_4567_89AB_4CDE, low: 0x8123_4567_89AB_CDEF)
    #expect(template.render(uuid: uuid, firmware: FirmwareVersion("3.7.2")!, seq: 9)
            == "PING 9 from 01234567-89ab-4cde-8123-456789abcdef on 3.7.2/9")
    #expect(template.uses(.seq) && template.uses(.uuid) && template.uses(.firmware))
}

@Test func aBraceBeforeAQuoteOrSpaceIsLiteralJSON() throws {
    let template = try MessageTemplate(parsing: #"{ "a": {"b":"{uuid}"} }"#)
    let uuid = DeviceUUID(high: 0, low: 1)
    #expect(template.render(uuid: uuid, firmware: FirmwareVersion("1.0.0")!, seq: 0)
            == #"{ "a": {"b":"00000000-0000-0000-0000-000000000001"} }"#)
    #expect(!template.uses(.seq))
}

@Test func anUnknownPlaceholderIsNamedInTheError() {
    #expect(throws: MessageTemplate.ParseError.unknownPlaceholder("nope")) {
        try MessageTemplate(parsing: #"{"type":"{nope}"}"#)
    }
    #expect(MessageTemplate.ParseError.unknownPlaceholder("nope").description
        == "unknown placeholder {nope}; use {uuid}, {firmware} or {seq}")
}

@Test func anUnclosedPlaceholderIsAnError() {
    #expect(throws: MessageTemplate.ParseError.unclosedBrace) {
        try MessageTemplate(parsing: "hello {uuid")
    }
}

// MARK: Replies the device recognises

@Test func aWelcomeIsRecognisedWhateverTheSpacingAndMemberOrder() {
    let p = DeviceProtocol.default
    for text in [#"{"type":"welcome"}"#,
                 #"  { "type" : "welcome" }  "#,
                 "{\n\t\"type\":\t\"welcome\"\r\n}",
                 #"{"server":"gw-2","limits":{"type":"x","n":[1,{"type":"ack"}]},"type":"welcome"}"#] {
        #expect(p.interpret(text, outstanding: 7) == .welcome, "\(text)")
    }
}

@Test func anAckCarriesItsOwnSequenceNumber() {
    let p = DeviceProtocol.default
    #expect(p.interpret(#"{"type":"ack","seq":41}"#, outstanding: 7) == .ack(seq: 41))
    #expect(p.interpret(#"{ "seq" : 41 , "type" : "ack" }"#, outstanding: 7) == .ack(seq: 41))
}

@Test func anAckWithoutSequenceNumberAcknowledgesTheHeartbeatInFlight() {
    let p = DeviceProtocol.default
    #expect(p.interpret(#"{"type":"ack"}"#, outstanding: 7) == .ack(seq: 7))
    #expect(p.interpret(#"{"at":"12:00","type": "ack"}"#, outstanding: 3) == .ack(seq: 3))
}

@Test func aTypeThatOnlyStartsLikeWelcomeIsNotAWelcome() {
    let p = DeviceProtocol.default
    #expect(p.interpret(#"{"type":"welcomed"}"#, outstanding: 0) == nil)
    #expect(p.interpret(#"{"type":"Welcome"}"#, outstanding: 0) == nil)
    #expect(p.interpret(#"{"kind":"welcome"}"#, outstanding: 0) == nil)
    #expect(p.interpret(#"{"note":{"type":"welcome"}}"#, outstanding: 0) == nil)
    #expect(p.interpret("welcome", outstanding: 0) == nil)
}

@Test func anErrorReplyIsAPolicyRefusal() {
    #expect(DeviceProtocol.default.interpret(#"{"type":"error","reason":"nope"}"#, outstanding: 0)
        == .reject(code: DeviceCloseCode.policyViolation, retryAfter: nil))
}

@Test func aPatternReadsTheSequenceNumberWhereItStands() {
    let pong = ReplyMatcher.pattern("PONG {seq}")
    #expect(pong.match("PONG 42") == .some(42))
    #expect(pong.match("PONG 42 ") == nil)
    #expect(pong.match("PONG ") == nil)
    #expect(pong.match("PONG x") == nil)
    #expect(pong.match("PING 42") == nil)
}

@Test func aPatternStarMatchesAnyTextIncludingNone() {
    let ok = ReplyMatcher.pattern("OK*")
    #expect(ok.match("OK") == .some(nil))
    #expect(ok.match("OK, welcome gw-1") == .some(nil))
    #expect(ok.match("NOK") == nil)
    let ack = ReplyMatcher.pattern("*ack {seq}*")
    #expect(ack.match("<- ack 17 (late)") == .some(17))
    #expect(ack.match("<- ack (late)") == nil)
}

@Test func aProtocolWithPatternsInterpretsPlainTextReplies() throws {
    let p = DeviceProtocol(hello: try MessageTemplate(parsing: "HELLO {uuid}"),
                           heartbeat: try MessageTemplate(parsing: "PING {seq}"),
                           welcome: .pattern("WELCOME*"), ack: .pattern("PONG {seq}"))
    #expect(p.interpret("PONG 5", outstanding: 9) == .ack(seq: 5))
    #expect(p.interpret("WELCOME back", outstanding: 9) == .welcome)
    #expect(p.interpret(#"{"type":"error"}"#, outstanding: 9) == nil)
    #expect(p.heartbeatText(uuid: uuid, firmware: firmware, seq: 5) == "PING 5")
}

// MARK: Transport outcomes

@Test func closeCodesThatRefuseAreRejectsWithTheirCode() {
    for code: UInt16 in [4003, 1013, 1011, 1008, 4008] {
        for upgraded in [false, true] {
            #expect(DeviceProtocol.input(for: .closed(code: code), upgraded: upgraded)
                == .message(.reject(code: code, retryAfter: nil)), "\(code)")
        }
    }
}

@Test func anOrdinaryCloseIsALostSessionAfterTheUpgradeAndAFailedConnectBefore() {
    #expect(DeviceProtocol.input(for: .closed(code: 1000), upgraded: true) == .down(.lost))
    #expect(DeviceProtocol.input(for: .closed(code: 1001), upgraded: true) == .down(.lost))
    #expect(DeviceProtocol.input(for: .closed(code: 1000), upgraded: false) == .down(.connectFailed))
}

@Test func http403IsTheBlockListsRefusal() {
    #expect(DeviceProtocol.input(for: .http(status: 403, retryAfter: nil), upgraded: false)
        == .message(.reject(code: 4003, retryAfter: nil)))
}

@Test func http503And429AreAdmissionRefusalsHonouringRetryAfter() {
    #expect(DeviceProtocol.input(for: .http(status: 503, retryAfter: 7 * Time.second), upgraded: false)
        == .message(.reject(code: 1013, retryAfter: 7 * Time.second)))
    #expect(DeviceProtocol.input(for: .http(status: 429, retryAfter: nil), upgraded: false)
        == .message(.reject(code: 1013, retryAfter: nil)))
}

@Test func otherHTTPStatusesAreFailedConnects() {
    for status in [500, 502, 404, 401, 200] {
        #expect(DeviceProtocol.input(for: .http(status: status, retryAfter: 3 * Time.second), upgraded: false)
            == .down(.connectFailed), "\(status)")
    }
}

@Test func transportFailuresAreFailedConnectsBeforeTheUpgradeAndLostSessionsAfter() {
    #expect(DeviceProtocol.input(for: .failedBeforeUpgrade, upgraded: false) == .down(.connectFailed))
    #expect(DeviceProtocol.input(for: .lost, upgraded: true) == .down(.lost))
    #expect(DeviceProtocol.input(for: .lost, upgraded: false) == .down(.connectFailed))
}

@Test func retryAfterReadsDeltaSecondsOnly() {
    #expect(DeviceProtocol.retryAfter(header: "120") == 120 * Time.second)
    #expect(DeviceProtocol.retryAfter(header: " 5 ") == 5 * Time.second)
    #expect(DeviceProtocol.retryAfter(header: "0") == 0)
    #expect(DeviceProtocol.retryAfter(header: "Wed, 21 Oct 2015 07:28:00 GMT") == nil)
    #expect(DeviceProtocol.retryAfter(header: "-1") == nil)
    #expect(DeviceProtocol.retryAfter(header: "1.5") == nil)
    #expect(DeviceProtocol.retryAfter(header: "") == nil)
    #expect(DeviceProtocol.retryAfter(header: nil) == nil)
}
