import Foundation
import NIOConcurrencyHelpers
import NIOCore
@testable import ReferenceBackend

/// A small backend on a random loopback port with its own registry file, shut down after `body`.
func withBackend(rows: Int = 2_000, _ configure: (inout ReferenceBackendConfiguration) -> Void = { _ in },
                 _ body: (ReferenceBackend, Int) async throws -> Void) async throws {
    var config = ReferenceBackendConfiguration()
    config.rows = rows
    config.databaseWorkers = 1
    config.eventLoopThreads = 1
    // Generous deadlines unless a test is about them: a very busy CI machine must not trip them.
    config.helloTimeout = .seconds(60)
    config.requestTimeout = .seconds(60)
    configure(&config)
    let backend = ReferenceBackend(configuration: config)
    let (_, port) = try await backend.start()
    do {
        try await body(backend, port)
    } catch {
        try? await backend.shutdown()
        throw error
    }
    try await backend.shutdown()
}

/// A fresh path in the temporary directory (the caller removes it).
func temporaryDatabasePath() -> String {
    NSTemporaryDirectory() + "fleetsim-test-\(UUID().uuidString).sqlite"
}

func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

/// Polls `condition` until it holds or `seconds` pass.
func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return try condition()
}

func hello(_ uuid: String, _ firmware: String) -> String {
    "{\"type\":\"hello\",\"uuid\":\"\(uuid)\",\"firmware\":\"\(firmware)\"}"
}

/// A counter's value in Prometheus text (`name{labels} value`), or nil when absent.
func metricValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

/// Blocks every database worker until `release()`: makes "the database is busy" deterministic.
final class DatabaseGate: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let workers: Int
    init(_ backend: ReferenceBackend) {
        workers = backend.core.database.workers
        for _ in 0..<workers { backend.core.database.submit { [semaphore] _ in semaphore.wait() } }
    }
    private let released = NIOLockedValueBox(false)
    /// Idempotent: call it in a `defer` too, or a failed expectation leaves shutdown waiting forever.
    func release() {
        guard released.withLockedValue({ let was = $0; $0 = true; return !was }) else { return }
        for _ in 0..<workers { semaphore.signal() }
    }
}
