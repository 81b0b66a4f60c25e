import Foundation
import LoadReport
import Testing

/// The faults of the timeline in a live run against the embedded backend (`fleetsim run`, real
/// WebSockets on loopback): each fault in its own window, so that its effect on the report's
/// counters is told apart from the others', followed by recovery; and the same milestones as
/// the simulation of the same file.
@Suite(.serialized, .tags(.slow, .network)) struct LiveFaultTests {
    let cli = CommandLineTests()

    /// The backend's faults, 10 s apart (scenario time; 32 s of wall time at ×2), each starting
    /// within an interval so that its effects count from the next interval on (the runner closes
    /// an interval a few milliseconds after its boundary). 100 devices on two backend processes
    /// sharing the port.
    static let backendFaults = """
        version: 1
        name: live-backend-faults
        seed: 3
        duration: 64s
        interval: 2s
        time_scale: 2
        profiles:
          p: { heartbeat: 2s, handshake_timeout: 3s, ack_timeout: 3s,
               reconnect: { policy: full-jitter, base: 500ms, cap: 2s } }
        fleet:
          - { name: fleet, count: 100, firmware: 3.9.1, profile: p, join: { ramp: 2s } }
        backend:
          gateways: { count: 2, memory_limit: 4GiB, restart: 2s }
          database: { cores: 2, rows: 1000 }
        timeline:
          - { at: 5s, action: outage, for: 4s }
          - { at: 15s, action: fail-gateway, gateway: 1, for: 4s }
          - { at: 25s, action: http-errors, fraction: 100%, status: 503, retry_after: 4s, for: 4s }
          - { at: 25s, action: drop-sessions, fraction: 100% }
          - { at: 35s, action: latency, add: 4s, for: 6s }
          - { at: 51s, action: db-errors, fraction: 100%, for: 6s }
        """

    /// The faults the devices carry out (`dns-failure`, `remove-devices`) and the one that is an
    /// expected count (`feature-failure`): 12 s of wall time.
    static let clientFaults = """
        version: 1
        name: live-client-faults
        seed: 4
        duration: 24s
        interval: 2s
        time_scale: 2
        profiles:
          p: { heartbeat: 2s, handshake_timeout: 3s, ack_timeout: 3s,
               reconnect: { policy: full-jitter, base: 500ms, cap: 2s }, messages: { call-join: 2s } }
          q: { extends: p, messages: { screen-share: 2s } }
        fleet:
          - { name: hubs, count: 60, firmware: 3.9.1, profile: p, model: hub, join: { ramp: 2s } }
          - { name: others, count: 40, firmware: 3.8.0, profile: q, join: { ramp: 2s } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB }
          database: { cores: 1, rows: 1000 }
        timeline:
          - { at: 3s, action: dns-failure, for: 4s }
          - { at: 3s, action: drop-sessions, fraction: 100% }
          - { at: 11s, action: feature-failure, model: hub, message: call-join, for: 4s }
          - { at: 17s, action: remove-devices, group: others }
        """

    /// Runs the scenario live and simulated; returns both reports.
    func run(_ yaml: String) throws -> (live: Report, simulated: Report) {
        let dir = NSTemporaryDirectory() + "fleetsim-live-faults-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try yaml.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try cli.fleetsim("run", dir + "/s.yaml", "--out", dir + "/out", "-q")
        #expect(r.status == 0, "\(r.stderr)")
        let sim = try cli.fleetsim("simulate", dir + "/s.yaml", "--out", dir + "/sim", "-q")
        #expect(sim.status == 0, "\(sim.stderr)")
        return (try Report.read(path: dir + "/out/report.json"), try Report.read(path: dir + "/sim/report.json"))
    }

    @Test func theBackendsFaultsApplyLiveAndEachEndIsFollowedByRecovery() throws {
        let (r, simulated) = try run(Self.backendFaults)
        let milestone = r.hasTimeline

        // outage: every process restarts, down for the fault's `for`; nobody gets in until its end.
        #expect(milestone(5, "outage: the backend refuses every connection for 4s"), "\(r.timelineDetails())")
        #expect(milestone(9, "outage over: the backend accepts connections again"))
        #expect(r.at(8, \.online) == 0)
        #expect(r.at(8, \.connects) == 0 && r.at(8, \.connectAttempts) > 100)
        #expect(r.onlineFraction(at: 14) > 0.9)

        // fail-gateway: one process's devices drop and reconnect to the other before it is back.
        #expect(milestone(15, "gateway 1 fails and stays down for 4s"))
        #expect(milestone(19, "gateway 1 back"))
        let drop = try #require(r.storm.massDisconnects.first { $0.tS >= 15 && $0.tS < 17 }, "\(r.storm.massDisconnects)")
        #expect(drop.devices >= 10 && drop.devices <= 90)
        #expect(try #require(drop.to95PctS) < 4, "back within the second they were dropped in counts as back")
        #expect(r.onlineFraction(at: 18) > 0.9)

        // http-errors: every upgrade answered 503 with Retry-After 4 s (2 s of wall time): one
        // refused attempt per device until 29 s, and no connect.
        #expect(milestone(25, "100% of upgrades answered 503 with Retry-After 4s for 4s"))
        #expect(milestone(29, "http-errors over: upgrades answered normally"))
        #expect(r.sum(\.rejects, from: 0, to: 24) == 0)
        #expect(r.sum(\.rejects, from: 24, to: 30) >= 80)
        #expect(r.at(28, \.connects) == 0)
        #expect(r.sum(\.connectAttempts, from: 24, to: 28) <= 130, "Retry-After is honoured on the scenario's clock")
        #expect(r.onlineFraction(at: 34) > 0.9)

        // latency: acks and welcomes 4 s late, past both timeouts (3 s).
        #expect(milestone(35, "the backend answers hellos and heartbeats 4s later for 6s"))
        #expect(milestone(41, "latency over: the backend answers at its own speed"))
        #expect(r.sum(\.handshakeTimeouts, from: 0, to: 34) == 0 && r.sum(\.ackTimeouts, from: 0, to: 34) == 0)
        #expect(r.sum(\.ackTimeouts, from: 34, to: 44) >= 50)
        #expect(r.sum(\.handshakeTimeouts, from: 34, to: 48) > 0)
        #expect(r.sum(\.rejects, from: 30, to: 50) == 0)
        #expect(r.onlineFraction(at: 50) > 0.9)

        // db-errors: heartbeats go unacknowledged, the reconnects' lookups are closed with 1011.
        #expect(milestone(51, "100% of database queries fail for 6s"))
        #expect(milestone(57, "db-errors over: database queries succeed"))
        #expect(r.sum(\.ackTimeouts, from: 50, to: 60) >= 50)
        #expect(r.sum(\.rejects, from: 50, to: 60) > 0)
        #expect(r.sum(\.handshakeTimeouts, from: 50, to: 64) == 0)
        #expect(r.summary.onlineFractionFinal > 0.95)

        // The simulation of the same file writes the same fault milestones.
        #expect(r.faultMilestones() == simulated.faultMilestones())
    }

    @Test func theDevicesFaultsApplyLiveDNSFailuresCountedApart() throws {
        let (r, simulated) = try run(Self.clientFaults)
        let milestone = r.hasTimeline

        // dns-failure: every connect attempt fails as a resolver failure, counted apart.
        #expect(milestone(3, "the backend's name does not resolve for 4s"), "\(r.timelineDetails())")
        #expect(milestone(7, "dns-failure over: the name resolves again"))
        let dns = try #require(r.summary.dnsFailures)
        #expect(dns >= 100 && dns <= r.sum(\.connectAttempts, from: 2, to: 10))
        #expect(r.at(6, \.connects) == 0)
        #expect(r.summary.rejects == 0)
        #expect(r.onlineFraction(at: 10) > 0.95)

        // feature-failure: the expected error replies of the 60 online hubs (one call-join per 2 s,
        // for 4 s), no disconnect.
        #expect(milestone(11, "call-join fails for model hub (groups hubs; sessions kept) for 4s"))
        let errors = try #require(r.summary.featureErrors)
        #expect(errors >= 100 && errors <= 125)
        #expect(milestone(15, "call-join failure over: error replies per group: hubs \(errors)"))
        #expect(r.sum(\.disconnects, from: 10, to: 16) == 0)

        // remove-devices: the group's 40 devices close and leave the eligible count for good.
        #expect(milestone(17, "40 devices of group others leave the fleet (powered off)"))
        #expect(r.at(16, \.eligible) == 100 && r.at(18, \.eligible) == 60)
        #expect(r.onlineFraction(at: 18) == 1)
        #expect(r.sum(\.connectAttempts, from: 18, to: 24) == 0, "a removed device never reconnects")

        // The expected count differs (each engine counts its own online devices).
        #expect(r.faultMilestones().filter { !$0.contains("failure over") } == simulated.faultMilestones().filter { !$0.contains("failure over") })
    }
}

extension Report {
    /// Whether a `timeline` milestone with this text is at `t` seconds.
    func hasTimeline(_ t: Double, _ text: String) -> Bool { timelineDetails().contains { $0.0 == t && $0.1 == text } }

    /// The `timeline` milestones but the network's drops (whose counts are the run's own), as "t text".
    func faultMilestones() -> [String] {
        timelineDetails().filter { !$0.1.hasPrefix("network drops") }.map { "\($0.0) \($0.1)" }
    }
}
