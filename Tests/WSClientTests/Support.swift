import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import WSClient

/// Records every delegate event; thread-safe so tests can read it while the loop writes.
final class RecordingDelegate: WSConnectionDelegate, @unchecked Sendable {
    private let lock = NIOLock()
    private var _opened = false
    private var _texts: [String] = []
    private var _binaries: [[UInt8]] = []
    private var _pongs: [[UInt8]] = []
    private var _cause: WSCloseCause? = nil
    private var _timings: WSTimings? = nil
    private var _closeCount = 0
    private var _subprotocol: String? = nil
    /// Optional reaction to a text message (e.g. to echo it), run on the event loop.
    var onText: ((WSConnection, String) -> Void)?
    var onBinary: ((WSConnection, ByteBuffer) -> Void)?
    var onOpen: ((WSConnection) -> Void)?

    func webSocketDidOpen(_ c: WSConnection) {
        lock.withLock { _opened = true; _subprotocol = c.subprotocol }
        onOpen?(c)
    }
    func webSocket(_ c: WSConnection, didReceiveText text: String) {
        lock.withLock { _texts.append(text) }
        onText?(c, text)
    }
    func webSocket(_ c: WSConnection, didReceiveBinary data: ByteBuffer) {
        lock.withLock { _binaries.append(Array(data.readableBytesView)) }
        onBinary?(c, data)
    }
    func webSocket(_ c: WSConnection, didReceivePong data: ByteBuffer) {
        lock.withLock { _pongs.append(Array(data.readableBytesView)) }
    }
    func webSocket(_ c: WSConnection, didCloseWith cause: WSCloseCause, timings: WSTimings) {
        lock.withLock { _cause = cause; _timings = timings; _closeCount += 1 }
    }

    var opened: Bool { lock.withLock { _opened } }
    var texts: [String] { lock.withLock { _texts } }
    var binaries: [[UInt8]] { lock.withLock { _binaries } }
    var pongs: [[UInt8]] { lock.withLock { _pongs } }
    var cause: WSCloseCause? { lock.withLock { _cause } }
    var timings: WSTimings? { lock.withLock { _timings } }
    var closeCount: Int { lock.withLock { _closeCount } }
    var subprotocol: String? { lock.withLock { _subprotocol } }

    /// Waits (bounded) for the close callback and returns its cause.
    func closed(within seconds: Double = 10) async -> WSCloseCause? {
        await eventually(within: seconds) { self.cause != nil }
        return cause
    }
}

/// Polls `condition` every 5 ms until it holds or the bound expires. Returns whether it held.
@discardableResult
func eventually(within seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return condition()
}

/// A client with short deadlines for tests.
func makeClient(_ configure: (inout WSConfiguration) -> Void = { _ in }) throws -> WSClient {
    var config = WSConfiguration()
    // Generous by default so a busy CI machine does not turn into a false failure; tests of
    // deadlines set their own short values.
    config.connectTimeout = .seconds(10)
    config.tlsTimeout = .seconds(10)
    config.upgradeTimeout = .seconds(10)
    config.closeTimeout = .seconds(5)
    configure(&config)
    return try WSClient(configuration: config)
}
