import FleetSim
import Foundation
import Testing

/// SIGINT and SIGTERM as stop requests: a repeat within half a second is the same request.
@Suite struct SignalRequestsTests {
    let ms: Int64 = 1_000_000

    @Test func timeoutsDoubleSIGTERMIsOneRequest() {
        var r = SignalRequests()
        #expect(r.receive(SIGTERM, at: 1_000 * ms) == 1)
        #expect(r.receive(SIGTERM, at: 1_000 * ms + 5_000) == nil, "to the child, then to its group, microseconds apart")
        #expect(r.count == 1)
    }

    @Test func aDeliberateSecondCtrlCAMomentLaterIsASecondRequest() {
        var r = SignalRequests()
        #expect(r.receive(SIGINT, at: 0) == 1)
        #expect(r.receive(SIGINT, at: 1_000 * ms) == 2)
    }

    @Test func theWindowRunsFromTheRequestNotFromEachRepeat() {
        var r = SignalRequests()
        #expect(r.receive(SIGINT, at: 0) == 1)
        #expect(r.receive(SIGINT, at: 300 * ms) == nil)
        #expect(r.receive(SIGINT, at: 600 * ms) == 2, "repeats cannot hold a second request off for ever")
    }

    @Test func anotherSignalIsAnotherRequest() {
        var r = SignalRequests()
        #expect(r.receive(SIGINT, at: 0) == 1)
        #expect(r.receive(SIGTERM, at: 1 * ms) == 2)
    }
}
