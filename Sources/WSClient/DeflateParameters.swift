/// The parameters in force after the server's answer.
struct DeflateParameters: Equatable {
    var serverNoContextTakeover = false
    var clientNoContextTakeover = false
    var serverMaxWindowBits = 15
    var clientMaxWindowBits = 15
    var level: Int32 = 6
    var memoryLevel: Int32 = 8

    /// Interprets the server's `Sec-WebSocket-Extensions` value against our offer.
    /// Returns nil when the server declined compression, or an error message when its answer is
    /// not one we can accept (RFC 7692 §5: the client must then fail the connection).
    static func negotiate(response: String?, offer: WSCompression?) -> Result<DeflateParameters?, HandshakeError> {
        guard let response, !response.allSatisfy({ $0 == " " || $0 == "\t" }) else { return .success(nil) }
        guard let offer else { return .failure(.init("server sent extensions that were not offered: \(response)")) }
        let extensions = response.split(separator: ",")
        guard extensions.count == 1 else { return .failure(.init("server accepted more than one extension")) }
        let parts = extensions[0].split(separator: ";").map { $0.trimmingCharacters() }
        guard parts.first?.lowercased() == "permessage-deflate" else {
            return .failure(.init("server accepted an unknown extension: \(parts.first ?? "")"))
        }
        var p = DeflateParameters(level: offer.level, memoryLevel: offer.memoryLevel)
        var seen = Set<String>()
        for param in parts.dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters() }
            let name = kv[0].lowercased()
            guard seen.insert(name).inserted else { return .failure(.init("duplicate extension parameter \(name)")) }
            let value = kv.count > 1 ? kv[1][...].trimmingCharacters(in: "\"") : nil
            func bits() -> Int? {
                guard let value, let n = Int(value), (8...15).contains(n) else { return nil }
                return n
            }
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return .failure(.init("server_no_context_takeover takes no value")) }
                p.serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard value == nil else { return .failure(.init("client_no_context_takeover takes no value")) }
                p.clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let n = bits() else { return .failure(.init("invalid server_max_window_bits")) }
                if let limit = offer.serverMaxWindowBits, n > limit {
                    return .failure(.init("server_max_window_bits above the offered limit"))
                }
                p.serverMaxWindowBits = n
            case "client_max_window_bits":
                guard offer.clientMaxWindowBits != nil else {
                    return .failure(.init("client_max_window_bits was not offered"))
                }
                guard let n = bits() else { return .failure(.init("invalid client_max_window_bits")) }
                p.clientMaxWindowBits = n
            default:
                return .failure(.init("unknown permessage-deflate parameter \(name)"))
            }
        }
        if offer.serverMaxWindowBits != nil && !seen.contains("server_max_window_bits") {
            // The server may ignore our request only by not echoing it; RFC 7692 §7.1.2.1 lets it
            // use up to 15 bits then, which our inflater must accept.
            p.serverMaxWindowBits = 15
        }
        if let clientBits = offer.clientMaxWindowBits, !seen.contains("client_max_window_bits") {
            p.clientMaxWindowBits = clientBits
        }
        return .success(p)
    }
}
