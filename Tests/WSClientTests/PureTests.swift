import Foundation
import NIOCore
import Testing
@testable import WSClient

@Suite struct HandshakeTests {
    @Test func acceptKeyMatchesTheRFCExample() {
        // RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" → accept "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
        let raw: [UInt8] = Array("the sample nonce".utf8)
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(raw[i]); low = low << 8 | UInt64(raw[i + 8]) }
        let key = HandshakeKey(high: high, low: low)
        #expect(key.encoded == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(key.expectedAccept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func responseHeadIsParsedAndLeftoverBytesAreCounted() {
        let text = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nX-A: b\r\n\r\nXYZ"
        let buffer = ByteBuffer(string: text)
        guard case .complete(let r, let consumed) = HandshakeResponse.parse(buffer) else {
            Issue.record("not parsed"); return
        }
        #expect(r.status == 503)
        #expect(r.header("retry-after") == "30")
        #expect(r.headers.map(\.name) == ["retry-after", "x-a"])
        #expect(consumed == text.utf8.count - 3)
    }

    @Test func incompleteAndOversizedHeads() {
        #expect(HandshakeResponse.parse(ByteBuffer(string: "HTTP/1.1 101 OK\r\nUpg")) == .incomplete)
        let huge = ByteBuffer(string: "HTTP/1.1 101 OK\r\n" + String(repeating: "a", count: 20_000))
        guard case .invalid = HandshakeResponse.parse(huge) else { Issue.record("accepted"); return }
        guard case .invalid = HandshakeResponse.parse(ByteBuffer(string: "HTTP/1.1 1x1 OK\r\n\r\n")) else { Issue.record("bad status"); return }
        guard case .invalid = HandshakeResponse.parse(ByteBuffer(string: "HTTP/1.1 101 OK\r\nNoColon\r\n\r\n")) else { Issue.record("bad header"); return }
    }

    @Test func deflateNegotiationAcceptsEchoedOfferAndRejectsUnknownParameters() throws {
        let offer = WSCompression()
        let ok = try DeflateParameters.negotiate(response: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10", offer: offer).get()
        #expect(ok?.serverNoContextTakeover == true)
        #expect(ok?.clientMaxWindowBits == 10)
        #expect((try? DeflateParameters.negotiate(response: "permessage-deflate; foo=1", offer: offer).get()) == nil)
        #expect((try? DeflateParameters.negotiate(response: "x-webkit-deflate-frame", offer: offer).get()) == nil)
        #expect((try? DeflateParameters.negotiate(response: "permessage-deflate", offer: nil).get()) == nil)
        #expect(try DeflateParameters.negotiate(response: nil, offer: offer).get() == nil)
    }
}

@Suite struct FramingTests {
    @Test func utf8ValidatorAcceptsValidAndRejectsInvalidSequences() {
        #expect(UTF8Validator.isValid(Array("κόσμε ✓ 𝄞".utf8)))
        #expect(!UTF8Validator.isValid([0xC0, 0xAF]))            // overlong
        #expect(!UTF8Validator.isValid([0xED, 0xA0, 0x80]))      // surrogate
        #expect(!UTF8Validator.isValid([0xF4, 0x90, 0x80, 0x80])) // > U+10FFFF
        #expect(!UTF8Validator.isValid([0xE2, 0x82]))            // truncated
        var v = UTF8Validator()
        let first = v.feed([0xE2, 0x82])
        #expect(first)
        #expect(!v.isComplete)
        let second = v.feed([0xAC])
        #expect(second)
        #expect(v.isComplete)
    }

    @Test func writerMasksAndParserRejectsMaskedServerFrames() {
        let payload = ByteBuffer(string: "Hello")
        var frame = FrameWriter.write(opcode: .text, payload: payload, key: 0x1234_5678, allocator: .init())
        let bytes = Array(frame.readableBytesView)
        #expect(bytes[0] == 0x81)
        #expect(bytes[1] == 0x85)
        let key = Array(bytes[2..<6])
        #expect(key == [0x12, 0x34, 0x56, 0x78])
        let textFrame = FrameWriter.write(text: "Hello", key: 0x1234_5678, allocator: .init())
        #expect(Array(textFrame.readableBytesView) == bytes)
        var masks = MaskKeyGenerator(seed: 1)
        #expect(Set((0..<100).map { _ in masks.next() }).count == 100)
        let unmasked = (0..<5).map { bytes[6 + $0] ^ key[$0 % 4] }
        #expect(unmasked == Array("Hello".utf8))
        guard case .failure(let f) = FrameParser.next(&frame, maxPayload: 100, allowRSV1: false) else {
            Issue.record("masked frame accepted"); return
        }
        #expect(f.code == 1002)
    }

    @Test func parserChecksControlFramesReservedBitsAndSize() {
        func parse(_ bytes: [UInt8], max: Int = 1000) -> FrameParser.Result {
            var b = ByteBuffer(bytes: bytes)
            return FrameParser.next(&b, maxPayload: max, allowRSV1: false)
        }
        if case .failure(let f) = parse([0x09, 0x00]) { #expect(f.code == 1002) } else { Issue.record("fragmented ping") }
        if case .failure(let f) = parse([0x89, 126, 0, 126] + [UInt8](repeating: 0, count: 126)) { #expect(f.code == 1002) } else { Issue.record("long ping") }
        if case .failure(let f) = parse([0xC1, 0x00]) { #expect(f.code == 1002) } else { Issue.record("rsv1") }
        if case .failure(let f) = parse([0x83, 0x00]) { #expect(f.code == 1002) } else { Issue.record("opcode 3") }
        if case .failure(let f) = parse([0x82, 126, 0x07, 0xD0], max: 1000) { #expect(f.code == 1009) } else { Issue.record("too big") }
        if case .incomplete = parse([0x81, 0x05, 0x48]) {} else { Issue.record("partial frame") }
        if case .frame(let fr) = parse([0x81, 0x02, 0x68, 0x69]) {
            #expect(String(buffer: fr.payload) == "hi")
        } else { Issue.record("valid frame") }
    }

    @Test func closeCodeValidity() {
        for valid: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1013, 3000, 3999, 4000, 4999] {
            #expect(WSConnectionHandler.isValidReceivedCloseCode(valid))
        }
        for invalid: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            #expect(!WSConnectionHandler.isValidReceivedCloseCode(invalid))
        }
    }

    @Test func deflateRoundTripsAndEnforcesTheLimit() throws {
        let p = DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: true)
        let codec = DeflateCodec(parameters: p)
        let text = String(repeating: "hello fleet ", count: 1000)
        let compressed = codec.compress(ByteBuffer(string: text), allocator: .init())
        #expect(compressed.readableBytes < 200)
        let back = try codec.decompress(compressed, limit: 1 << 20, allocator: .init())
        #expect(String(buffer: back) == text)
        #expect(throws: DeflateCodec.Failure.tooBig) { try codec.decompress(compressed, limit: 1000, allocator: .init()) }
    }
}

@Suite struct EndpointTests {
    @Test func urlsAreSplitIntoHostPortAndPath() throws {
        let a = try WSEndpoint(url: "wss://example.com/device?x=1")
        #expect(a.secure && a.host == "example.com" && a.port == 443 && a.path == "/device?x=1")
        #expect(a.address == nil)
        #expect(a.hostHeader == "example.com")
        let b = try WSEndpoint(url: "ws://127.0.0.1:8080")
        #expect(!b.secure && b.port == 8080 && b.path == "/" && b.address != nil && b.hostHeader == "127.0.0.1:8080")
        let c = try WSEndpoint(url: "ws://[::1]:9000/x")
        #expect(c.host == "::1" && c.hostHeader == "[::1]:9000")
        #expect(throws: WSEndpoint.InvalidURL.self) { try WSEndpoint(url: "http://example.com") }
        #expect(throws: WSEndpoint.InvalidURL.self) { try WSEndpoint(url: "ws://host:99999/") }
    }

    @Test func fileDescriptorBudgetExplainsAShortfall() {
        let budget = WSClient.fileDescriptorBudget()
        #expect(budget.softLimit > 0)
        #expect(budget.open > 0)
        #expect(budget.shortfall(forConnections: 10) == nil)
        let message = budget.shortfall(forConnections: budget.softLimit + 10_000)
        #expect(message?.contains("file-descriptor limit \(budget.softLimit)") == true)
    }
}

@Suite struct ClassificationTests {
    @Test func socketErrorsMapToCauses() {
        typealias H = WSConnectionHandler
        #expect(H.classify(IOError(errnoCode: EMFILE, reason: "socket"), state: .idle) == .local(.fd))
        #expect(H.classify(IOError(errnoCode: ENFILE, reason: "socket"), state: .idle) == .local(.fd))
        #expect(H.classify(IOError(errnoCode: EADDRNOTAVAIL, reason: "connect"), state: .idle) == .local(.ports))
        #expect(H.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect"), state: .idle) == .refused)
        #expect(H.classify(IOError(errnoCode: ECONNRESET, reason: "read"), state: .open) == .reset)
        #expect(H.classify(IOError(errnoCode: ETIMEDOUT, reason: "connect"), state: .idle) == .timeout(.connect))
        #expect(H.classify(ChannelError.connectTimeout(.seconds(1)), state: .idle) == .timeout(.connect))
        #expect(H.classify(ChannelError.eof, state: .open) == nil)
        #expect(H.classify(WSResolveError(cause: .dns("x")), state: .idle) == .dns("x"))
    }

    @Test func closeReasonsAreCutOnCharacterBoundaries() {
        let long = String(repeating: "é", count: 100)  // 200 bytes
        let cut = WSConnectionHandler.truncatedReason(long)
        #expect(cut.utf8.count <= 123)
        #expect(cut == String(repeating: "é", count: 61))
    }

    @Test func causesHaveStableLabels() {
        #expect(WSCloseCause.http(status: 503, retryAfter: "30").label == "http.503")
        #expect(WSCloseCause.timeout(.upgrade).label == "timeout.upgrade")
        #expect(WSCloseCause.closed(code: 1013, reason: "").label == "closed.1013")
        #expect(WSCloseCause.http(status: 503, retryAfter: "30").description == "http(503, retry-after: 30)")
    }
}
