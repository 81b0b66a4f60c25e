import DeviceModel
import Foundation
import NIOCore
import NIOWebSocket
import Testing
@testable import ReferenceBackend

/// Bad input never takes the backend down: each gets a defined close code or HTTP status and a counter.
@Suite(.tags(.network)) struct BadInputTests {
    /// Opens a device connection, sends `text` (after hello when `afterHello`), expects `code`, and
    /// checks that the backend still welcomes a well-behaved device afterwards.
    private func expectClose(_ code: UInt16, cause: RejectCause, afterHello: Bool = false,
                             configure: (inout ReferenceBackendConfiguration) -> Void = { _ in },
                             send: @escaping (TestConnection) async throws -> Void) async throws {
        try await withBackend(configure) { backend, port in
            let c: TestConnection
            if afterHello {
                c = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 3), firmware: "3.7.2")
            } else {
                let (upgraded, r) = try await TestConnection.upgrade(port: port)
                try #require(upgraded != nil, "upgrade failed with \(r.status)")
                c = upgraded!
            }
            try await send(c)
            #expect(try await c.closeCode() == code)
            #expect(try await c.next() == .disconnected)
            #expect(backend.stats.rejects[cause] == 1)
            let text = try await TestConnection.http(port: port, path: "/metrics").body
            #expect(metricValue(text, "fleetsim_backend_rejects_total{cause=\"\(cause.rawValue)\"}") == 1)
            let healthy = try await TestConnection.device(port: port, uuid: DeviceRegistry.seededUUID(index: 4), firmware: "3.7.2")
            healthy.close()
        }
    }

    @Test func malformedJSONIsClosedWith1007() async throws {
        try await expectClose(1007, cause: .malformedJSON) { try await $0.send(text: "{\"type\":\"hello\",") }
    }

    @Test func invalidUTF8IsClosedWith1007() async throws {
        try await expectClose(1007, cause: .malformedJSON) { try await $0.send(opcode: .text, bytes: [0x7B, 0xFF, 0xFE, 0x7D]) }
    }

    @Test func unknownMessageTypeIsClosedWith1008() async throws {
        try await expectClose(1008, cause: .unknownType, afterHello: true) { try await $0.send(text: "{\"type\":\"reboot\"}") }
    }

    @Test func messageWithoutTypeIsClosedWith1008() async throws {
        try await expectClose(1008, cause: .unknownType) { try await $0.send(text: "{\"uuid\":\"x\"}") }
    }

    @Test func binaryFrameIsClosedWith1003() async throws {
        try await expectClose(1003, cause: .binaryFrame) { try await $0.send(opcode: .binary, bytes: [1, 2, 3]) }
    }

    @Test func fragmentedMessageIsClosedWith1003() async throws {
        try await expectClose(1003, cause: .fragmentedMessage) { try await $0.send(opcode: .text, bytes: Array("{\"ty".utf8), fin: false) }
    }

    @Test func oversizedFrameIsClosedWith1009() async throws {
        try await expectClose(1009, cause: .frameTooBig, configure: { $0.maxFrameSize = 1024 }) {
            try await $0.send(text: "{\"type\":\"hello\",\"pad\":\"" + String(repeating: "x", count: 2_000) + "\"}")
        }
    }

    @Test func unmaskedFrameIsClosedWith1002() async throws {
        try await expectClose(1002, cause: .badFrame) { c in
            var buffer = c.channel.allocator.buffer(capacity: 64)
            buffer.writeString(hello(DeviceRegistry.seededUUID(index: 1), "3.7.2"))
            try await c.send(frame: WebSocketFrame(fin: true, opcode: .text, data: buffer), masked: false)
        }
    }

    @Test func helloInTheSameSegmentAsTheUpgradeIsNotLost() async throws {
        try await withBackend { backend, port in
            let c = try await TestConnection.open(port: port)
            let payload = Array(hello(DeviceRegistry.seededUUID(index: 8), "3.7.2").utf8)
            var bytes = Array(("GET /device HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8)
            bytes += [0x81, 0x80 | UInt8(payload.count), 0, 0, 0, 0] + payload   // masked with a zero key
            var buffer = c.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            try await c.channel.writeAndFlush(buffer).get()
            #expect(try await c.response().status == 101)
            #expect(try await c.next() == .text("{\"type\":\"welcome\"}"))
            #expect(backend.stats.handshakes[.welcome] == 1)
            c.close()
        }
    }

    @Test func heartbeatBeforeHelloIsClosedWith1008() async throws {
        try await expectClose(1008, cause: .protocolViolation) { try await $0.send(text: "{\"type\":\"heartbeat\",\"seq\":1}") }
    }

    @Test func secondHelloIsClosedWith1008() async throws {
        try await expectClose(1008, cause: .protocolViolation, afterHello: true) {
            try await $0.send(text: hello(DeviceRegistry.seededUUID(index: 3), "3.7.2"))
        }
    }

    @Test func helloWithABadUUIDIsClosedWith1008() async throws {
        try await expectClose(1008, cause: .badHello) { try await $0.send(text: hello("not-a-uuid", "3.7.2")) }
    }

    @Test func helloWithABadFirmwareIsClosedWith1008() async throws {
        try await expectClose(1008, cause: .badHello) { try await $0.send(text: hello(DeviceRegistry.seededUUID(index: 1), "three")) }
    }

    @Test func silentDeviceIsClosedWith4008AfterTheHelloDeadline() async throws {
        try await expectClose(DeviceCloseCode.helloTimeout, cause: .helloTimeout, configure: { $0.helloTimeout = .milliseconds(800) }) { _ in }
    }

    @Test func slowUpgradeRequestGets408() async throws {
        try await withBackend({ $0.requestTimeout = .milliseconds(500) }) { backend, port in
            let c = try await TestConnection.open(port: port)
            // And then nothing. On a loaded machine the deadline may pass before this write lands
            // (the server has answered and closed by then): the 408 must come either way.
            try? await c.sendRaw("GET /device HTTP/1.1\r\nHost: x\r\nUpgr")
            let r = try await c.response()
            #expect(r.status == 408)
            #expect(try await c.next() == .disconnected)
            #expect(backend.stats.rejects[.upgradeTimeout] == 1)
        }
    }

    @Test func garbageHTTPGets400() async throws {
        try await withBackend { backend, port in
            let c = try await TestConnection.open(port: port)
            try await c.sendRaw("\u{1}\u{2}NOT HTTP AT ALL\r\n\r\n")
            #expect(try await c.response().status == 400)
            #expect(await eventually { backend.stats.rejects[.badHTTP] == 1 })
        }
    }

    @Test func deviceRouteWithoutAnUpgradeGets400() async throws {
        try await withBackend { backend, port in
            #expect(try await TestConnection.http(port: port, path: "/device").status == 400)
            // An upgrade without its key is not a WebSocket upgrade either.
            let c = try await TestConnection.open(port: port)
            try await c.sendRaw("GET /device HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
            #expect(try await c.response().status == 400)
            #expect(backend.stats.rejects[.badUpgrade] == 2)
        }
    }

    @Test func aFloodOfConnectsIsServedOrTurnedAwayNeverDropped() async throws {
        try await withBackend({ $0.admission = AdmissionPolicy(connectRate: 2, burst: 20) }) { backend, port in
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        let (c, r) = try await TestConnection.upgrade(port: port)
                        c?.close()
                        return r.status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let admitted = results.filter { $0 == 101 }.count
            let refused = results.filter { $0 == 503 }.count
            #expect(admitted + refused == 100)
            #expect(admitted >= 20 && admitted < 100)
            #expect(backend.stats.rejects[.admissionRate] == UInt64(refused))
        }
    }
}
