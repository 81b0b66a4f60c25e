/// What a device and the cloud say to each other, as far as the device's decisions go: the
/// messages it sends (templates), how it recognises the replies (matchers), and what a
/// transport outcome (a close code, an HTTP status at upgrade, a failure) means to its machine.
///
/// Pure: the simulation uses it to name what happens, the live runner to speak it over real
/// WebSockets, the calibrator and the reference backend to agree with both. The default is the
/// protocol of DESIGN.md, which the reference backend serves at `/device`; a scenario profile can
/// replace any part (`protocol:`) to speak to another backend.
public struct DeviceProtocol: Sendable, Equatable {
    public var hello: MessageTemplate
    public var heartbeat: MessageTemplate
    public var welcome: ReplyMatcher
    public var ack: ReplyMatcher
    /// A reply that refuses the device without closing (e.g. `{"type":"error"}`); nil: none.
    public var reject: ReplyMatcher?

    public init(hello: MessageTemplate, heartbeat: MessageTemplate, welcome: ReplyMatcher, ack: ReplyMatcher,
                reject: ReplyMatcher? = nil) {
        self.hello = hello
        self.heartbeat = heartbeat
        self.welcome = welcome
        self.ack = ack
        self.reject = reject
    }

    /// `{"type":"hello","uuid":…,"firmware":…}` → `{"type":"welcome"}`;
    /// `{"type":"heartbeat","seq":N}` → `{"type":"ack","seq":N}`.
    public static let `default` = DeviceProtocol(
        hello: try! MessageTemplate(parsing: #"{"type":"hello","uuid":"{uuid}","firmware":"{firmware}"}"#),
        heartbeat: try! MessageTemplate(parsing: #"{"type":"heartbeat","seq":{seq}}"#),
        welcome: .jsonType("welcome"),
        ack: .jsonType("ack"),
        reject: .jsonType("error"))

    /// What a text message from the cloud means to the device; nil: nothing it acts on.
    /// An ack without a sequence number acknowledges the heartbeat in flight (`outstanding`).
    public func interpret(_ text: String, outstanding seq: UInt32) -> Inbound? {
        if let found = ack.match(text) { return .ack(seq: found ?? seq) }
        if welcome.match(text) != nil { return .welcome }
        if let reject, reject.match(text) != nil { return .reject(code: DeviceCloseCode.policyViolation, retryAfter: nil) }
        return nil
    }

    /// The device's hello, ready to send.
    public func helloText(uuid: DeviceUUID, firmware: FirmwareVersion) -> String {
        hello.render(uuid: uuid, firmware: firmware, seq: 0)
    }

    public func heartbeatText(uuid: DeviceUUID, firmware: FirmwareVersion, seq: UInt32) -> String {
        heartbeat.render(uuid: uuid, firmware: firmware, seq: seq)
    }

    // MARK: Transport outcomes

    /// How a connection attempt or a session ended, in terms any transport can report.
    public enum TransportOutcome: Sendable, Equatable {
        /// The server started the close handshake with this code.
        case closed(code: UInt16)
        /// The server answered the upgrade with this HTTP status (and a `Retry-After`, if any).
        case http(status: Int, retryAfter: Nanoseconds?)
        /// No session: refused, reset, timed out or unresolvable before the upgrade completed.
        case failedBeforeUpgrade
        /// The transport went away after the upgrade without a close handshake (reset, EOF).
        case lost
    }

    /// What the device's machine is told about an outcome.
    public enum DeviceInput: Sendable, Equatable {
        /// `DeviceMachine.received(.reject(…))`: refused, back off (honouring Retry-After).
        case message(Inbound)
        /// `DeviceMachine.transportDown(…)`.
        case down(DownCause)
    }

    /// The one mapping of transport outcomes to device events, for every driver:
    /// - a close with a refusal code (4003 firmware blocked, 1013 try again later, 1011 the
    ///   backend failed the handshake, 1008 policy, 4008 no hello in time) is a reject;
    /// - HTTP 403 at upgrade is the block list's refusal (as 4003), 503 and 429 admission's
    ///   (as 1013, with the server's Retry-After); any other status a failed connect;
    /// - any other close, or a lost transport, is `.lost` once the upgrade completed and
    ///   `.connectFailed` before.
    public static func input(for outcome: TransportOutcome, upgraded: Bool) -> DeviceInput {
        switch outcome {
        case .closed(let code):
            if DeviceProtocol.isRefusal(code) { return .message(.reject(code: code, retryAfter: nil)) }
            return .down(upgraded ? .lost : .connectFailed)
        case .http(let status, let retryAfter):
            switch status {
            case 403: return .message(.reject(code: DeviceCloseCode.firmwareBlocked, retryAfter: retryAfter))
            case 429, 503: return .message(.reject(code: DeviceCloseCode.tryAgainLater, retryAfter: retryAfter))
            default: return .down(.connectFailed)
            }
        case .failedBeforeUpgrade:
            return .down(.connectFailed)
        case .lost:
            return .down(upgraded ? .lost : .connectFailed)
        }
    }

    /// Close codes with which the backend refuses a device (it backs off, honouring any
    /// Retry-After), as opposed to ending a session that worked.
    public static func isRefusal(_ code: UInt16) -> Bool {
        switch code {
        case DeviceCloseCode.firmwareBlocked, DeviceCloseCode.tryAgainLater, DeviceCloseCode.internalError,
             DeviceCloseCode.policyViolation, DeviceCloseCode.helloTimeout: return true
        default: return false
        }
    }

    /// A `Retry-After` header value in delta-seconds (`120`); nil for anything else (an HTTP
    /// date is read as no hint: devices keep their own backoff).
    public static func retryAfter(header: String?) -> Nanoseconds? {
        guard let header, let s = Int(header.trimmingCharacters(in: " \t")), s >= 0, s < 86_400 * 365 else { return nil }
        return Nanoseconds(s) * Time.second
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
