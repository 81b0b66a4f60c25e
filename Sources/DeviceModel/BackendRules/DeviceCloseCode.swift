/// Close codes the backend sends to devices, and what they mean to a device.
public enum DeviceCloseCode {
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
}
