/// permessage-deflate (RFC 7692) offer. The defaults ask for no context takeover in both
/// directions so that an idle connection holds no zlib state at all (each message gets a fresh
/// stream that is freed right after): the right trade for fleets of chatty-but-small devices.
public struct WSCompression: Sendable, Hashable {
    /// Ask the server not to keep its compression context between messages.
    public var serverNoContextTakeover: Bool = true
    /// Tell the server this client will not keep its compression context between messages.
    public var clientNoContextTakeover: Bool = true
    /// Limit the server's LZ77 window (8…15); nil = no limit requested.
    public var serverMaxWindowBits: Int? = nil
    /// Offer `client_max_window_bits` (the server may then lower our window); nil = don't offer.
    public var clientMaxWindowBits: Int? = 15
    /// zlib compression level (0…9).
    public var level: Int32 = 6
    /// zlib memLevel (1…9): smaller saves memory per stream at some compression cost.
    public var memoryLevel: Int32 = 8

    public init() {}

    /// The `Sec-WebSocket-Extensions` offer.
    var offer: String {
        var s = "permessage-deflate"
        if serverNoContextTakeover { s += "; server_no_context_takeover" }
        if clientNoContextTakeover { s += "; client_no_context_takeover" }
        if let bits = serverMaxWindowBits { s += "; server_max_window_bits=\(bits)" }
        if let bits = clientMaxWindowBits { s += bits == 15 ? "; client_max_window_bits" : "; client_max_window_bits=\(bits)" }
        return s
    }
}
