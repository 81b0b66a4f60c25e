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

    /// The value of a header, by lower-case name; repeated headers are joined by ", ".
    func header(_ lowercasedName: String) -> String? {
        var result: String? = nil
        for h in headers where h.name == lowercasedName {
            result = result.map { $0 + ", " + h.value } ?? h.value
        }
        return result
    }

    /// Largest response head accepted (status line + headers).
    static let maxHeadSize = 16 * 1024

    enum ParseResult: Equatable {
        case incomplete
        /// The head, and how many bytes of the buffer it used (the rest are WebSocket frames).
        case complete(HandshakeResponse, consumed: Int)
        case invalid(String)
    }

    /// Parses an HTTP/1.1 response head from the readable bytes of `buffer`. Header names are
    /// stored lower-cased.
    static func parse(_ buffer: ByteBuffer) -> ParseResult {
        buffer.withUnsafeReadableBytes { parse(bytes: $0) }
    }

    private static func parse(bytes: UnsafeRawBufferPointer) -> ParseResult {
        let count = bytes.count
        // Find CRLFCRLF.
        var end = -1
        var i = 0
        while i + 3 < count {
            if bytes[i + 3] == 10 && bytes[i + 2] == 13 && bytes[i + 1] == 10 && bytes[i] == 13 { end = i; break }
            i += 1
        }
        guard end >= 0 else {
            return count > maxHeadSize ? .invalid("response head larger than \(maxHeadSize) bytes") : .incomplete
        }
        func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 }
        // Status line: "HTTP/1.x SP 3DIGIT SP reason".
        guard end >= 12, bytes[0] == UInt8(ascii: "H"), bytes[4] == UInt8(ascii: "/"), bytes[5] == UInt8(ascii: "1"),
              bytes[8] == 32 else { return .invalid("malformed status line") }
        var status = 0
        for k in 9..<12 {
            let d = bytes[k]
            guard d >= 48 && d <= 57 else { return .invalid("malformed status line") }
            status = status * 10 + Int(d - 48)
        }
        guard status >= 100, end == 12 || bytes[12] == 32 else { return .invalid("malformed status line") }
        // Header lines.
        var headers: [(name: String, value: String)] = []
        var lineStart = 0
        while lineStart < end && !(bytes[lineStart] == 13 && bytes[lineStart + 1] == 10) { lineStart += 1 }
        lineStart += 2
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end && !(bytes[lineEnd] == 13 && bytes[lineEnd + 1] == 10) { lineEnd += 1 }
            var colon = lineStart
            while colon < lineEnd && bytes[colon] != UInt8(ascii: ":") { colon += 1 }
            guard colon < lineEnd, colon > lineStart else { return .invalid("malformed header line") }
            var vStart = colon + 1, vEnd = lineEnd
            while vStart < vEnd && isSpace(bytes[vStart]) { vStart += 1 }
            while vEnd > vStart && isSpace(bytes[vEnd - 1]) { vEnd -= 1 }
            let name = String(unsafeUninitializedCapacity: colon - lineStart) { out in
                for k in 0..<(colon - lineStart) {
                    let b = bytes[lineStart + k]
                    out[k] = (b >= 65 && b <= 90) ? b | 0x20 : b
                }
                return colon - lineStart
            }
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[vStart..<vEnd]), as: UTF8.self)
            headers.append((name, value))
            lineStart = lineEnd + 2
        }
        return .complete(HandshakeResponse(status: status, headers: headers), consumed: end + 4)
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
