import ServiceLifecycle

/// The reference backend as a service of a swift-service-lifecycle `ServiceGroup`: `run()` starts
/// it (unless it was started already, as `fleetsim backend` does to report its port first), serves
/// until the group shuts down gracefully, then shuts the backend down cleanly: every connection
/// closed with 1001, queued database work finished, every pending `last_seen` update written.
///
/// ```swift
/// let backend = ReferenceBackend(configuration: config, logger: logger)
/// let group = ServiceGroup(services: [ReferenceBackendService(backend)],
///                          gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public struct ReferenceBackendService: Service {
    public let backend: ReferenceBackend

    public init(_ backend: ReferenceBackend) { self.backend = backend }

    public func run() async throws {
        if !backend.isRunning { try await backend.start() }
        // Returns when the group shuts down gracefully; throws when the task is cancelled. Either
        // way the backend stops cleanly.
        try? await gracefulShutdown()
        try await backend.shutdown()
    }
}
