import NIOCore

/// A reason the opening handshake was refused by this client.
struct HandshakeError: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The parts of an HTTP response head the client needs.
struct HandshakeResponse: Equatable {
    var status: Int
    var headers: [(name: String, value: String)]

    static func == (a: Self, b: Self) -> Bool {
        a.status == b.status && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
    }

    /// The first value of a header (case-insensitive name); repeated headers are joined by ", ".
    func header(_ name: String) -> String? {
        let values = headers.filter { $0.name.lowercased() == name }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// Largest response head accepted (status line + headers).
    static let maxHeadSize = 16 * 1024

    enum ParseResult: Equatable {
        case incomplete
        /// The head, and how many bytes of the buffer it used (the rest are WebSocket frames).
        case complete(HandshakeResponse, consumed: Int)
        case invalid(String)
    }

    /// Parses an HTTP/1.1 response head from the start of `bytes`.
    static func parse(_ bytes: ByteBufferView) -> ParseResult {
        // Find CRLFCRLF.
        var end: Int? = nil
        var i = bytes.startIndex
        let stop = bytes.endIndex
        while i + 3 < stop {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { end = i; break }
            i += 1
        }
        guard let end else {
            return bytes.count > maxHeadSize ? .invalid("response head larger than \(maxHeadSize) bytes") : .incomplete
        }
        let head = String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return .invalid("empty response") }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...999).contains(status) else {
            return .invalid("malformed status line")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return .invalid("malformed header line") }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters()))
        }
        return .complete(HandshakeResponse(status: status, headers: headers), consumed: end + 4 - bytes.startIndex)
    }
}

/// What the server agreed to in a valid 101 response.
struct HandshakeAgreement: Equatable {
    var subprotocol: String?
    var deflate: DeflateParameters?
}

extension HandshakeResponse {
    /// Checks a 101 response against RFC 6455 §4.1 and our offer.
    func validate(key: HandshakeKey, subprotocols: [String], compression: WSCompression?) -> Result<HandshakeAgreement, HandshakeError> {
        guard header("upgrade")?.lowercased() == "websocket" else {
            return .failure(.init("missing or wrong Upgrade header"))
        }
        guard let connection = header("connection"),
              connection.split(separator: ",").contains(where: { $0.trimmingCharacters().lowercased() == "upgrade" })
        else { return .failure(.init("missing Connection: upgrade")) }
        guard header("sec-websocket-accept") == key.expectedAccept else {
            return .failure(.init("wrong Sec-WebSocket-Accept"))
        }
        var agreement = HandshakeAgreement()
        if let proto = header("sec-websocket-protocol") {
            guard subprotocols.contains(proto) else {
                return .failure(.init("server chose a subprotocol that was not offered: \(proto)"))
            }
            agreement.subprotocol = proto
        }
        switch DeflateParameters.negotiate(response: header("sec-websocket-extensions"), offer: compression) {
        case .success(let d): agreement.deflate = d
        case .failure(let e): return .failure(e)
        }
        return .success(agreement)
    }
}
