import Logging
import ReferenceBackend
import ServiceLifecycle
import Testing

/// The reference backend as another package would run it: a service of its own `ServiceGroup`.
@Suite(.tags(.network)) struct ServiceTests {
    @Test func theBackendRunsAsAServiceAndStopsCleanlyOnGracefulShutdown() async throws {
        var config = ReferenceBackendConfiguration()
        config.port = 0
        config.rows = 100
        let backend = ReferenceBackend(configuration: config, logger: Logger(label: "test.backend"))
        let group = ServiceGroup(services: [ReferenceBackendService(backend)], logger: Logger(label: "test.lifecycle"))
        let running = Task { try await group.run() }
        for _ in 0..<250 where !backend.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(backend.isRunning, "the service starts the backend")
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!backend.isRunning, "a graceful shutdown of the group stops the backend")
    }
}
