import DeviceModel
import Foundation
import Testing
@testable import FleetSim

/// A scenario that uses every section of format version 1.
private let complete = """
version: 1
name: airtame-2020-02-08
description: "The cascade of 8 February 2020"
seed: 2020
clock_start: "2020-02-08T00:00:00Z"
duration: 17h
interval: 5m
network: { latency: 15ms }
profiles:
  legacy:
    heartbeat: 60s
    ack_timeout: 20s
    session_lifetime: 10m
    reconnect: { policy: random, min: 1s, max: 30s, honor_retry_after: false }
  uuid-scan: { extends: legacy, lookup: scan, reconnect: { max: 10s } }
  jitter:
    extends: uuid-scan
    session_lifetime: none
    reconnect: { policy: full-jitter, base: 1s, cap: 5m, max_attempts: 10, reset_after: 1m }
  plain: {}
fleet:
  - name: old-firmware
    count: 19000
    firmware: 3.7
    profile: legacy
    join: { warm: true }
  - { name: new-firmware, count: 800, firmware: 3.8.0-b3, profile: uuid-scan, join: { at: 10m, ramp: 90m } }
backend:
  gateways: { count: 4, memory_limit: 2GiB, per_connection: 64KiB, restart: 45s }
  load_balancer: least-connections
  database: { cores: 4, rows: 100000, scan_cost_per_row: 10us, indexed_cost: 0.8ms, queue_timeout: 30s }
  admission: { connect_rate: 12000/m, max_pending: 500 }
timeline:
  - { at: 16h20m, action: block, firmware: ">=3.8.0-b3", note: "hotfix deployed" }
  - { at: 30m, action: add-devices, group: new-firmware, count: 200, ramp: 90m }
  - { at: 13h40m, action: restart-gateways, gateway: all, down: 6m }
  - { at: 13h40m, action: restart-gateways, gateway: 2 }
  - { at: 2h, action: set-db-cores, cores: 8 }
  - { at: 1h, action: drop-sessions, fraction: 50% }
  - { at: 1h, action: set-admission, admission: { connect_rate: 100/s, burst: 50 } }
  - { at: 3h, action: set-admission, admission: off }
  - { at: 16h59m, action: unblock, firmware: ">=3.8.0-b3" }
thresholds:
  online_fraction: ["min > 0.95"]
  handshake_ms: ["p99 < 500", "max < 2000"]
"""

/// The smallest valid scenario, for tests that change one thing.
private let minimal = """
version: 1
name: minimal
duration: 1h
profiles:
  legacy: {}
fleet:
  - { name: old-firmware, count: 10, firmware: 3.7.2, profile: legacy }
backend:
  gateways: { count: 2 }
  database: { cores: 1, rows: 10 }
"""

/// The message a scenario fails with, or "loaded" when it loads.
private func failure(_ yaml: String, path: String = "test.yaml", overrides: [String] = []) -> String {
    do {
        _ = try ScenarioLoader.load(yaml: yaml, path: path, overrides: overrides)
        return "loaded"
    } catch let error as ScenarioError {
        return error.description
    } catch {
        return "not a ScenarioError: \(error)"
    }
}

/// The message a bad fixture fails with, reported under the name `bad/<name>.yaml`.
private func fixtureFailure(_ name: String, overrides: [String] = []) throws -> String {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "yaml", subdirectory: "Fixtures/bad"))
    let yaml = try String(contentsOf: url, encoding: .utf8)
    return failure(yaml, path: "bad/\(name).yaml", overrides: overrides)
}

@Suite struct ScenarioLoaderTests {
    // MARK: A good scenario

    @Test func aCompleteScenarioLoadsWithItsValues() throws {
        let s = try ScenarioLoader.load(yaml: complete, path: "airtame.yaml")
        #expect(s.name == "airtame-2020-02-08")
        #expect(s.description == "The cascade of 8 February 2020")
        #expect(s.seed == 2020)
        #expect(s.clockStart == "2020-02-08T00:00:00Z")
        #expect(s.duration == 17 * Time.hour)
        #expect(s.interval == 5 * Time.minute)
        #expect(s.network.latency == 15 * Time.millisecond)
        #expect(s.sourcePath == "airtame.yaml")

        #expect(s.fleet.count == 2)
        #expect(s.fleet[0] == Scenario.Group(name: "old-firmware", count: 19000, firmware: FirmwareVersion("3.7.0")!,
                                              profile: "legacy", warm: true))
        #expect(s.fleet[1] == Scenario.Group(name: "new-firmware", count: 800, firmware: FirmwareVersion("3.8.0-b3")!,
                                              profile: "uuid-scan", joinAt: 10 * Time.minute, ramp: 90 * Time.minute))
        #expect(s.totalDevices == 20000)

        let b = s.backend
        #expect(b.gateways == Scenario.Gateways(count: 4, memoryBase: 256 << 20, memoryLimit: 2 << 30,
                                                 perConnection: 64 << 10, perPending: 256 << 10, restart: 45 * Time.second))
        #expect(b.loadBalancer == .leastConnections)
        #expect(b.database == Scenario.Database(cores: 4, rows: 100_000, scanCostPerRow: 10 * Time.microsecond,
                                                 indexedCost: 800 * Time.microsecond, heartbeatCost: 200 * Time.microsecond,
                                                 queueTimeout: 30 * Time.second))
        #expect(b.admission == Scenario.Admission(connectRate: 200, burst: nil, maxPending: 500, retryAfter: 30 * Time.second))

        #expect(s.thresholds == [
            Scenario.Threshold(metric: "online_fraction", expression: "min > 0.95", location: "airtame.yaml:44:21"),
            Scenario.Threshold(metric: "handshake_ms", expression: "p99 < 500", location: "airtame.yaml:45:18"),
            Scenario.Threshold(metric: "handshake_ms", expression: "max < 2000", location: "airtame.yaml:45:31"),
        ])
    }

    @Test func profilesTakeDefaultsAndInheritThroughExtends() throws {
        let s = try ScenarioLoader.load(yaml: complete, path: "airtame.yaml")
        let legacy = try #require(s.profiles["legacy"])
        #expect(legacy.lookup == .indexed)
        #expect(legacy.sessionLifetime == 10 * Time.minute)
        #expect(legacy.behaviour == DeviceBehaviour(
            heartbeat: 60 * Time.second, handshakeTimeout: 10 * Time.second, ackTimeout: 20 * Time.second,
            connectTimeout: 10 * Time.second,
            reconnect: ReconnectPolicy(kind: .random, base: Time.second, cap: 30 * Time.second, honourRetryAfter: false)))

        // Inherits every field, overrides lookup, merges reconnect key by key.
        let scan = try #require(s.profiles["uuid-scan"])
        #expect(scan.name == "uuid-scan")
        #expect(scan.lookup == .scan)
        #expect(scan.sessionLifetime == 10 * Time.minute)
        #expect(scan.behaviour.ackTimeout == 20 * Time.second)
        #expect(scan.behaviour.reconnect == ReconnectPolicy(kind: .random, base: Time.second, cap: 10 * Time.second,
                                                            honourRetryAfter: false))

        // Two levels; a new policy ignores the inherited min and max; none clears a lifetime.
        let jitter = try #require(s.profiles["jitter"])
        #expect(jitter.lookup == .scan)
        #expect(jitter.sessionLifetime == nil)
        #expect(jitter.behaviour.reconnect == ReconnectPolicy(kind: .fullJitter, base: Time.second, cap: 5 * Time.minute,
                                                              maxAttempts: 10, resetAfter: Time.minute, honourRetryAfter: false))

        let plain = try #require(s.profiles["plain"])
        #expect(plain == Scenario.Profile(name: "plain", lookup: .indexed, behaviour: DeviceBehaviour(
            heartbeat: 60 * Time.second, handshakeTimeout: 10 * Time.second, ackTimeout: 30 * Time.second,
            connectTimeout: 10 * Time.second,
            reconnect: ReconnectPolicy(kind: .random, base: Time.second, cap: 30 * Time.second, honourRetryAfter: true))))
    }

    @Test func timelineEventsAreReadAndKeptInTimeOrder() throws {
        let s = try ScenarioLoader.load(yaml: complete, path: "airtame.yaml")
        let range = try FirmwareRange(parsing: ">=3.8.0-b3")
        #expect(s.timeline == [
            .init(at: 30 * Time.minute, action: .addDevices(group: "new-firmware", count: 200, ramp: 90 * Time.minute)),
            .init(at: Time.hour, action: .dropSessions(fraction: 0.5)),
            .init(at: Time.hour, action: .setAdmission(Scenario.Admission(connectRate: 100, burst: 50, retryAfter: 30 * Time.second))),
            .init(at: 2 * Time.hour, action: .setDatabaseCores(8)),
            .init(at: 3 * Time.hour, action: .setAdmission(nil)),
            .init(at: 13 * Time.hour + 40 * Time.minute, action: .restartGateways(gateway: nil, down: 6 * Time.minute)),
            .init(at: 13 * Time.hour + 40 * Time.minute, action: .restartGateways(gateway: 2, down: 45 * Time.second)),
            .init(at: 16 * Time.hour + 20 * Time.minute, action: .block(range), note: "hotfix deployed"),
            .init(at: 16 * Time.hour + 59 * Time.minute, action: .unblock(range)),
        ])
        #expect(s.totalDevices == 20000)
    }

    @Test func minimalScenarioTakesEveryDefault() throws {
        let s = try ScenarioLoader.load(yaml: minimal, path: "minimal.yaml")
        #expect(s.seed == 1)
        #expect(s.interval == Time.minute)
        #expect(s.network.latency == 20 * Time.millisecond)
        #expect(s.description == nil && s.clockStart == nil)
        #expect(s.backend.admission == nil)
        #expect(s.backend.loadBalancer == .roundRobin)
        #expect(s.backend.database.queueTimeout == nil)
        #expect(s.timeline.isEmpty && s.thresholds.isEmpty)
        #expect(s.fleet[0].joinAt == 0 && s.fleet[0].ramp == 0 && !s.fleet[0].warm && s.fleet[0].roster == nil)
    }

    @Test func loadingFromAFileNamesThatFile() throws {
        let url = try #require(Bundle.module.url(forResource: "wrong-unit", withExtension: "yaml", subdirectory: "Fixtures/bad"))
        #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: url.path) }
        do {
            _ = try ScenarioLoader.load(path: url.path)
        } catch let error as ScenarioError {
            #expect(error.description.hasPrefix(url.path + ":7:16: profiles.legacy.heartbeat: "))
            #expect(error.origin == .file(url.path, line: 7, column: 16))
            #expect(error.field == "profiles.legacy.heartbeat")
        }
        #expect(failureOfPath("/nonexistent/rollout.yaml") == "/nonexistent/rollout.yaml: cannot read the scenario: no such file")
    }

    private func failureOfPath(_ path: String) -> String {
        do { _ = try ScenarioLoader.load(path: path); return "loaded" } catch { return "\(error)" }
    }

    // MARK: The bad fixtures: each error with its position

    @Test func badYAMLSyntaxNamesLineAndColumn() throws {
        let message = try fixtureFailure("syntax")
        #expect(message == "bad/syntax.yaml:9:4: invalid YAML: did not find expected '-' indicator (while parsing a block collection at line 7, column 3)")
    }

    @Test func unknownKeySuggestsTheClosestKey() throws {
        let message = try fixtureFailure("unknown-key")
        #expect(message == "bad/unknown-key.yaml:8:5: fleet[0].cuont: unknown key; did you mean \"count\"?")
    }

    @Test func wrongUnitSaysWhatWasExpected() throws {
        let message = try fixtureFailure("wrong-unit")
        #expect(message == "bad/wrong-unit.yaml:7:16: profiles.legacy.heartbeat: expected a duration like \"30s\", got \"30\"")
    }

    @Test func negativeCountIsRejected() throws {
        let message = try fixtureFailure("negative-count")
        #expect(message == "bad/negative-count.yaml:9:12: fleet[1].count: expected a whole number >= 0, got -5")
    }

    @Test func impossibleFirmwareRangeGivesItsReason() throws {
        let message = try fixtureFailure("impossible-range")
        #expect(message == "bad/impossible-range.yaml:12:44: timeline[0].firmware: firmware range \">=3.9 <3.8\" can never match: its lower bound is above its upper bound")
    }

    @Test func eventAfterTheEndOfTheRunIsRejected() throws {
        let message = try fixtureFailure("event-after-end")
        #expect(message == "bad/event-after-end.yaml:14:11: timeline[2].at: 18h is after the end of the run (duration 17h)")
    }

    @Test func unknownProfileIsNamedWithASuggestion() throws {
        let message = try fixtureFailure("unknown-profile")
        #expect(message == "bad/unknown-profile.yaml:9:67: fleet[1].profile: unknown profile \"uuid-scna\"; did you mean \"uuid-scan\"?")
    }

    // MARK: --set

    @Test func setOverridesACountByIndexOrByName() throws {
        let byIndex = try ScenarioLoader.load(yaml: complete, path: "a.yaml", overrides: ["fleet[1].count=1000"])
        #expect(byIndex.fleet[1].count == 1000)
        let byName = try ScenarioLoader.load(yaml: complete, path: "a.yaml", overrides: ["fleet.new-firmware.count=1000"])
        #expect(byName.fleet[1].count == 1000)
        let bracketName = try ScenarioLoader.load(yaml: complete, path: "a.yaml", overrides: ["fleet[new-firmware].count=1000"])
        #expect(bracketName.fleet[1].count == 1000)
        #expect(byName.fleet[0].count == 19000)
    }

    @Test func setReachesNestedKeysAndAddsMissingOnes() throws {
        let s = try ScenarioLoader.load(yaml: complete, path: "a.yaml", overrides: [
            "seed=7", "backend.database.cores=8", "profiles.legacy.reconnect.policy=constant",
            "profiles.legacy.reconnect.delay=5s",
        ])
        #expect(s.seed == 7)
        #expect(s.backend.database.cores == 8)
        #expect(s.profiles["legacy"]?.behaviour.reconnect.kind == .constant)
        #expect(s.profiles["legacy"]?.behaviour.reconnect.base == 5 * Time.second)

        // Another policy from the command line: the file's min and max no longer apply.
        let jitter = try ScenarioLoader.load(yaml: complete, path: "a.yaml", overrides: ["profiles.legacy.reconnect.policy=full-jitter"])
        #expect(jitter.profiles["legacy"]?.behaviour.reconnect == ReconnectPolicy(kind: .fullJitter, base: Time.second,
                                                                                  cap: 5 * Time.minute, honourRetryAfter: false))

        // A key that is not written yet (heartbeat_cost) and a section that is absent (admission).
        let m = try ScenarioLoader.load(yaml: minimal, path: "m.yaml", overrides: [
            "backend.database.heartbeat_cost=3ms", "backend.admission.connect_rate=50/s",
            "profiles.legacy.reconnect.policy=full-jitter", "profiles.legacy.reconnect.base=5ms",
            "profiles.legacy.reconnect.cap=2s", "timeline=[{at: 10m, action: drop-sessions, fraction: 25%}]",
        ])
        #expect(m.backend.database.heartbeatCost == 3 * Time.millisecond)
        #expect(m.backend.admission?.connectRate == 50)
        #expect(m.profiles["legacy"]?.behaviour.reconnect == ReconnectPolicy(kind: .fullJitter, base: 5 * Time.millisecond,
                                                                             cap: 2 * Time.second))
        #expect(m.timeline == [.init(at: 10 * Time.minute, action: .dropSessions(fraction: 0.25))])
    }

    @Test func setValuesGoThroughTheSameValidation() {
        #expect(failure(complete, overrides: ["fleet[1].count=-5"])
            == "--set fleet[1].count=-5: fleet[1].count: expected a whole number >= 0, got -5")
        #expect(failure(complete, overrides: ["fleet.new-firmware.count=lots"])
            == "--set fleet.new-firmware.count=lots: fleet[1].count: expected a whole number >= 0, got \"lots\"")
        #expect(failure(complete, overrides: ["fleet[0].cuont=5"])
            == "--set fleet[0].cuont=5: fleet[0].cuont: unknown key; did you mean \"count\"?")
        #expect(failure(minimal, overrides: ["duration=30"])
            == "--set duration=30: duration: expected a duration like \"30s\", got \"30\"")
    }

    @Test func badSetPathsNameTheArgument() {
        #expect(failure(complete, overrides: ["fleet[9].count=5"])
            == "--set fleet[9].count=5: fleet[9]: there is no such group (the scenario has 2)")
        #expect(failure(complete, overrides: ["fleet.new-firmwar.count=5"])
            == "--set fleet.new-firmwar.count=5: fleet: there is no group named \"new-firmwar\"; did you mean \"new-firmware\"?")
        #expect(failure(complete, overrides: ["seed.value=5"])
            == "--set seed.value=5: seed: is a single value (\"2020\"), so it has no key \"value\"")
        #expect(failure(complete, overrides: ["backend[0]=5"])
            == "--set backend[0]=5: backend: is a mapping, not a list: address its keys by name, not [0]")
        #expect(failure(complete, overrides: ["fleet[1].count"])
            == "--set fleet[1].count: expected path=value, like fleet[0].count=1000")
        #expect(failure(complete, overrides: ["fleet..count=3"])
            == "--set fleet..count=3: path \"fleet..count\": a key is missing before \".\"")
        #expect(failure(complete, overrides: ["=3"])
            == "--set =3: expected path=value, like fleet[0].count=1000; the path is empty")
        #expect(failure(complete, overrides: ["timeline=[oops"]).hasPrefix("--set timeline=[oops: the value is not valid YAML: "))
    }

    // MARK: Other errors, each with its message

    @Test func missingRequiredKeyIsReportedAtItsMapping() {
        let yaml = minimal.replacingOccurrences(of: "count: 10, ", with: "")
        #expect(failure(yaml) == "test.yaml:7:5: fleet[0]: missing required key \"count\"")
        #expect(failure(minimal.replacingOccurrences(of: "name: minimal\n", with: ""))
            == "test.yaml:1:1: missing required key \"name\"")
    }

    @Test func unknownTopLevelKeyWithoutACloseMatchListsTheKeys() {
        #expect(failure(minimal + "\nzzz: 1")
            == "test.yaml:11:1: zzz: unknown key (expected one of: version, name, description, seed, clock_start, duration, interval, network, profiles, fleet, backend, timeline, thresholds, rollout, target, time_scale, observe, hooks)")
        #expect(failure(minimal + "\ntime_line: []") == "test.yaml:11:1: time_line: unknown key; did you mean \"timeline\"?")
    }

    @Test func versionMustBeOne() {
        #expect(failure(minimal.replacingOccurrences(of: "version: 1", with: "version: 2"))
            == "test.yaml:1:10: version: expected 1 (the scenario format this fleetsim reads), got \"2\"")
    }

    @Test func enumerationsSuggestTheClosestWord() {
        #expect(failure(minimal.replacingOccurrences(of: "legacy: {}", with: "legacy: { lookup: indexd }"))
            == "test.yaml:5:21: profiles.legacy.lookup: expected indexed or scan, got \"indexd\"; did you mean \"indexed\"?")
        #expect(failure(minimal + "\ntimeline: [{ at: 1m, action: blok, firmware: 3.8.x }]")
            == "test.yaml:11:30: timeline[0].action: expected add-devices, block, unblock, restart-gateways, set-db-cores, drop-sessions, set-admission, outage, fail-gateway, http-errors, latency, db-errors, dns-failure, remove-devices, power-off or feature-failure, got \"blok\"; did you mean \"block\"?")
    }

    @Test func extendsCyclesAndUnknownParentsAreErrors() {
        let cycle = minimal.replacingOccurrences(of: "legacy: {}", with: "legacy: { extends: b }\n  b: { extends: legacy }")
        #expect(failure(cycle) == "test.yaml:6:17: profiles.b.extends: profiles extend each other in a cycle: legacy → b → legacy")
        let unknown = minimal.replacingOccurrences(of: "legacy: {}", with: "legacy: { extends: legasy }")
        #expect(failure(unknown) == "test.yaml:5:22: profiles.legacy.extends: unknown profile \"legasy\"; did you mean \"legacy\"?")
    }

    @Test func reconnectKeysMustFitThePolicy() {
        let wrongKey = minimal.replacingOccurrences(of: "legacy: {}", with: "legacy: { reconnect: { policy: random, base: 1s } }")
        #expect(failure(wrongKey)
            == "test.yaml:5:48: profiles.legacy.reconnect.base: does not apply to policy random, which uses \"min\" and \"max\"")
        let capBelowBase = minimal.replacingOccurrences(of: "legacy: {}", with: "legacy: { reconnect: { policy: exponential, base: 10s, cap: 1s } }")
        #expect(failure(capBelowBase) == "test.yaml:5:63: profiles.legacy.reconnect.cap: cap (1s) is below base (10s)")
        let inverted = minimal.replacingOccurrences(of: "legacy: {}", with: "legacy: { reconnect: { min: 40s } }")
        #expect(failure(inverted) == "test.yaml:5:31: profiles.legacy.reconnect.min: max (30s) is below min (40s)")
    }

    @Test func timelineKeysMustFitTheAction() {
        #expect(failure(minimal + "\ntimeline: [{ at: 1m, action: block, count: 3 }]")
            == "test.yaml:11:37: timeline[0].count: does not apply to action block, which takes \"firmware\"")
        #expect(failure(minimal + "\ntimeline: [{ at: 1m, action: add-devices, group: new, count: 3 }]")
            == "test.yaml:11:50: timeline[0].group: unknown group \"new\" (the scenario defines \"old-firmware\")")
        #expect(failure(minimal + "\ntimeline: [{ at: 1m, action: restart-gateways, gateway: 2 }]")
            == "test.yaml:11:57: timeline[0].gateway: expected all or a gateway index from 0 to 1, got 2")
        #expect(failure(minimal + "\ntimeline: [{ at: 1h, action: set-db-cores, cores: 2 }]")
            == "test.yaml:11:18: timeline[0].at: 1h is the end of the run (duration 1h); it must be earlier")
        #expect(failure(minimal + "\ntimeline: [{ at: 5m, action: drop-sessions, fraction: 150% }]")
            == "test.yaml:11:55: timeline[0].fraction: expected a fraction like \"25%\" or 0.25 (from 0 to 1), got \"150%\"")
    }

    @Test func otherValueErrors() {
        #expect(failure(minimal.replacingOccurrences(of: "duration: 1h", with: "duration: 1h\ninterval: 2h"))
            == "test.yaml:4:11: interval: 2h is longer than the run (duration 1h)")
        #expect(failure(minimal.replacingOccurrences(of: "count: 2", with: "count: 2, memory_limit: 64MiB"))
            == "test.yaml:9:39: backend.gateways.memory_limit: memory_limit (64.0 MiB) must be above memory_base (256.0 MiB)")
        #expect(failure(minimal.replacingOccurrences(of: "firmware: 3.7.2", with: "firmware: latest"))
            == "test.yaml:7:48: fleet[0].firmware: expected a firmware version like \"3.8.0-b3\", got \"latest\"")
        #expect(failure(minimal.replacingOccurrences(of: "cores: 1", with: "cores: { n: 1 }"))
            == "test.yaml:10:22: backend.database.cores: expected a whole number >= 1, got a mapping")
    }

    @Test func duplicateGroupNamesAreErrors() {
        let yaml = minimal.replacingOccurrences(
            of: "profile: legacy }",
            with: "profile: legacy }\n  - { name: old-firmware, count: 1, firmware: 3.8.0, profile: legacy }")
        #expect(failure(yaml) == "test.yaml:8:13: fleet[1].name: \"old-firmware\" is already the name of fleet[0]; group names must be unique")
    }

    @Test func duplicateYAMLKeysAreErrors() {
        #expect(failure(minimal + "\nseed: 1\nseed: 2")
            == "test.yaml:11:1: key \"seed\" is given more than once in this mapping (first here)")
    }

    @Test func emptyAndNonMappingDocumentsAreErrors() {
        #expect(failure("") == "test.yaml: the scenario is empty; expected a mapping with version, name, duration, profiles, fleet and backend")
        #expect(failure("- 1\n- 2")
            == "test.yaml:1:1: expected a scenario: a mapping with version, name, duration, profiles, fleet and backend, got a list")
    }

    // MARK: Device rosters

    @Test func devicesFileSuppliesIdentitiesAndTheDefaultCount() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fleetsim-roster-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
        uuid,firmware
        0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89,3.7.2
        1b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89,3.7.1
        2b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89,3.7.2
        """.write(to: folder.appendingPathComponent("devices.csv"), atomically: true, encoding: .utf8)
        try "uuid,firmware\nnot-a-uuid,3.7.2\n".write(to: folder.appendingPathComponent("broken.csv"), atomically: true, encoding: .utf8)
        let scenarioPath = folder.appendingPathComponent("s.yaml").path
        let yaml = minimal.replacingOccurrences(of: "count: 10, ", with: "devices: devices.csv, ")

        let s = try ScenarioLoader.load(yaml: yaml, path: scenarioPath)
        #expect(s.fleet[0].count == 3)
        let roster = try #require(s.fleet[0].roster)
        #expect(roster.map(\.uuid.description) == ["0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89",
                                                    "1b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89",
                                                    "2b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89"])
        #expect(roster.allSatisfy { $0.firmware == FirmwareVersion("3.7.2")! })

        #expect(failure(yaml, path: scenarioPath, overrides: ["fleet[0].count=4"])
            == "--set fleet[0].count=4: fleet[0].count: 4 is more than the 3 devices in \(folder.path)/devices.csv")
        #expect(failure(yaml, path: scenarioPath, overrides: ["fleet[0].devices=broken.csv"])
            == "\(folder.path)/broken.csv:2:1: expected a UUID like 0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89, got \"not-a-uuid\"")
        #expect(failure(yaml, path: scenarioPath, overrides: ["fleet[0].devices=missing.csv"])
            == "--set fleet[0].devices=missing.csv: fleet[0].devices: cannot read \"\(folder.path)/missing.csv\": no such file")
    }
}
