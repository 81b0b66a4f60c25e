/// A live run's lost sessions and failed connect attempts by cause: the report's
/// `disconnects_by_cause` and `failed_connects_by_cause`, and the metrics endpoint's `cause`
/// label. Each event loop counts its own (cumulative, never handed over); the coordinator adds
/// the loops' when it reports.
///
/// Causes are short labels: the transport's (`WSCloseCause.label`: `closed.1011`, `http.503`,
/// `reset`, `eof`, `dns`, `refused`, `timeout.connect`, …) or the device's own decision
/// (`timeout.handshake`, `timeout.ack`, `session.end`, `dropped`, `removed`, `rejected`).
public struct CauseCounts: Sendable, Equatable {
    public var disconnects: [String: Int] = [:]
    public var failedConnects: [String: Int] = [:]

    public init() {}

    public mutating func disconnect(_ cause: String) { disconnects[cause, default: 0] += 1 }
    public mutating func failedConnect(_ cause: String) { failedConnects[cause, default: 0] += 1 }

    public mutating func add(_ other: CauseCounts) {
        disconnects.merge(other.disconnects, uniquingKeysWith: +)
        failedConnects.merge(other.failedConnects, uniquingKeysWith: +)
    }

    /// Into a report's summary.
    public func fill(_ summary: inout Report.Summary) {
        summary.disconnectsByCause = disconnects
        summary.failedConnectsByCause = failedConnects
    }
}
