import Testing

extension Tag {
    /// Takes seconds or more: replays whole scenarios, runs live fleets, renders in a browser.
    /// `swift test --skip tag:slow` leaves them out.
    @Tag static var slow: Self
    /// Opens real sockets on loopback (servers, WebSocket clients, child processes that listen).
    /// `swift test --skip tag:network` leaves them out.
    @Tag static var network: Self
}
