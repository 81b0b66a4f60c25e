import Foundation
import NIOCore
import Testing
@testable import WSClient

/// Interoperability with an implementation none of us wrote: the Python `websockets` server.
/// `.ci/run` installs it (`pip install websockets`); without it these tests are skipped.
enum PythonWebsockets {
    static let available: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import websockets.asyncio.server"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// Echo server: sends the negotiated extensions first, echoes messages, closes with 4001 on
    /// "close-me", pings on "ping-me" and reports "pong-received" once the pong came back, and
    /// exits when stdin closes or after 30 s.
    static let script = """
    import asyncio, sys
    from websockets.asyncio.server import serve

    async def handler(ws):
        await ws.send("extensions=" + (ws.response.headers.get("Sec-WebSocket-Extensions") or ""))
        async for message in ws:
            if message == "close-me":
                await ws.close(4001, "bye from python")
                return
            if message == "ping-me":
                pong = await ws.ping(b"interop")
                await asyncio.wait_for(pong, 10)
                await ws.send("pong-received")
                continue
            await ws.send(message)

    async def main():
        compression = "deflate" if sys.argv[1] == "deflate" else None
        async with serve(handler, "127.0.0.1", 0, compression=compression, ping_interval=None,
                         max_size=2**22) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            loop = asyncio.get_running_loop()
            stdin_closed = loop.run_in_executor(None, sys.stdin.read)
            await asyncio.wait([stdin_closed], timeout=30)

    asyncio.run(main())
    """

    final class Server {
        let process = Process()
        let input = Pipe()
        let port: Int

        init(compression: Bool) throws {
            let output = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", PythonWebsockets.script, compression ? "deflate" : "none"]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            var line = Data()
            while !line.contains(0x0A) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                process.terminate()
                throw WSEndpoint.InvalidURL(description: "python server did not start")
            }
            port = p
        }

        func stop() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }
}

@Suite(.enabled(if: PythonWebsockets.available, "python3 `websockets` is not installed (pip install websockets; .ci/run installs it)"), .tags(.network))
struct InteropTests {
    func roundTrip(compression: WSCompression?) async throws -> (RecordingDelegate, String) {
        let server = try PythonWebsockets.Server(compression: compression != nil)
        defer { server.stop() }
        let client = try makeClient { $0.compression = compression }
        let d = RecordingDelegate()
        let big = String(repeating: "0123456789abcdef", count: 16 * 1024)  // 256 KiB
        d.onOpen = { c in
            c.send(text: "hello ✓")
            c.send(binary: ByteBuffer(bytes: [0, 1, 2, 3, 254, 255]))
            c.send(text: big)
        }
        let c = client.connect(to: try WSEndpoint(url: "ws://127.0.0.1:\(server.port)/"), delegate: d)
        await eventually { d.texts.count >= 3 && d.binaries.count >= 1 || d.cause != nil }
        #expect(d.texts.dropFirst().first == "hello ✓")
        #expect(d.binaries == [[0, 1, 2, 3, 254, 255]])
        #expect(d.texts.count == 3 && d.texts[2] == big)
        // The server pings; it reports back only once our automatic pong arrived.
        c.send(text: "ping-me")
        await eventually { d.texts.count >= 4 || d.cause != nil }
        #expect(d.texts.last == "pong-received")
        c.send(text: "close-me")
        #expect(await d.closed() == .closed(code: 4001, reason: "bye from python"))
        return (d, d.texts.first ?? "")
    }

    @Test func echoPingsAndCloseWithoutCompression() async throws {
        let (_, extensions) = try await roundTrip(compression: nil)
        #expect(extensions == "extensions=")
    }

    @Test func echoPingsAndCloseWithPermessageDeflate() async throws {
        let (_, extensions) = try await roundTrip(compression: WSCompression())
        #expect(extensions.contains("permessage-deflate"))
        #expect(extensions.contains("client_no_context_takeover"))
    }

    @Test func permessageDeflateWithContextTakeover() async throws {
        var offer = WSCompression()
        offer.clientNoContextTakeover = false
        offer.serverNoContextTakeover = false
        let (_, extensions) = try await roundTrip(compression: offer)
        #expect(extensions.contains("permessage-deflate"))
        #expect(!extensions.contains("no_context_takeover"))
    }
}
