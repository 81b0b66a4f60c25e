/// The WebSocket close codes of the default device protocol: what the backend sends a device, and
/// what a device (simulated or live) reads back. RFC 6455 §7.4 codes plus the protocol's own 4xxx.
public enum DeviceCloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let unsupportedData: UInt16 = 1003
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let messageTooBig: UInt16 = 1009
    public static let internalError: UInt16 = 1011
    /// Try again later: admission control.
    public static let tryAgainLater: UInt16 = 1013
    /// The device's firmware is on the block list.
    public static let firmwareBlocked: UInt16 = 4003
    /// No `hello` within the hello deadline.
    public static let helloTimeout: UInt16 = 4008

    /// A few words for reports and logs: `4003` → "firmware blocked".
    public static func meaning(_ code: UInt16) -> String {
        switch code {
        case normal: return "normal closure"
        case goingAway: return "going away"
        case protocolError: return "protocol error"
        case unsupportedData: return "unsupported data"
        case 1005: return "no status received"
        case 1006: return "abnormal closure"
        case invalidPayload: return "invalid payload"
        case policyViolation: return "policy violation"
        case messageTooBig: return "message too big"
        case 1010: return "extension required"
        case internalError: return "internal error"
        case 1012: return "service restart"
        case tryAgainLater: return "try again later"
        case 1014: return "bad gateway"
        case 1015: return "TLS handshake failed"
        case firmwareBlocked: return "firmware blocked"
        case helloTimeout: return "no hello in time"
        case 3000..<4000: return "registered close code \(code)"
        case 4000..<5000: return "application close code \(code)"
        default: return "close code \(code)"
        }
    }
}
