import DeviceModel
import Foundation
import NIOCore
import Testing
@testable import ReferenceBackend

/// A configuration crosses a process boundary as `BackendLaunch` JSON: one encoder, one decoder,
/// and nothing lost on the way.
@Suite struct BackendLaunchTests {
    /// Every stored property set to something other than its default (a new field gets a value here).
    static var everyFieldSet: ReferenceBackendConfiguration {
        var c = ReferenceBackendConfiguration()
        c.host = "::1"
        c.port = 9001
        c.databasePath = "/tmp/registry.sqlite"
        c.rows = 64_000
        c.roster = [DeviceRoster.Entry(uuid: DeviceUUID(seed: 7, index: 1), firmware: FirmwareVersion("3.8.0-b3")!),
                    DeviceRoster.Entry(uuid: DeviceUUID(seed: 7, index: 2), firmware: FirmwareVersion("3.7.2")!)]
        c.lookup = try! LookupPolicy(parsing: "scan:>=3.8.0-b3; indexed:<3")
        c.databaseWorkers = 7
        c.eventLoopThreads = 5
        c.blockedFirmware = [try! FirmwareRange(parsing: ">=3.8.0-b3"), try! FirmwareRange(parsing: "3.6.x")]
        c.admission = AdmissionPolicy(connectRate: 123.25, burst: 400, maxPending: 100, retryAfter: 1_500_000_000)
        c.memoryLimit = 2 << 30
        c.pendingMemory = 2 << 20
        c.queueTimeout = .seconds(30)
        c.memoryCheckInterval = .milliseconds(150)
        c.restartDelay = .milliseconds(2_500)
        c.helloTimeout = .seconds(3)
        c.requestTimeout = .seconds(4)
        c.maxFrameSize = 8192
        c.adminToken = "tok"
        c.lastSeenFlushInterval = .milliseconds(250)
        c.reusePort = true
        c.sharesControls = true
        c.publishesControlsAtStart = false
        c.controlsPollInterval = .milliseconds(100)
        c.controlPort = 0
        c.backlog = 128
        c.statedCosts = StatedQueryCosts(scan: .milliseconds(40), indexed: .microseconds(200), heartbeat: .microseconds(50))
        return c
    }

    static func fields(_ value: some Encodable) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let object = try JSONSerialization.jsonObject(with: try encoder.encode(value)) as! [String: Any]
        var out: [String: String] = [:]
        for (key, v) in object {
            out[key] = String(decoding: try JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
        }
        return out
    }

    @Test func everyStoredPropertyButTheTestHookIsSerialised() {
        let stored = Set(Mirror(reflecting: ReferenceBackendConfiguration()).children.compactMap(\.label))
        let coded = Set(ReferenceBackendConfiguration.CodingKeys.allCases.map(\.stringValue))
        #expect(stored.subtracting(coded) == ["memoryReader"], "a stored property missing from CodingKeys")
        #expect(coded.subtracting(stored).isEmpty)
    }

    @Test func aConfigurationWithEveryFieldSetSurvivesTheRoundTrip() throws {
        let c = Self.everyFieldSet
        let defaults = try Self.fields(ReferenceBackendConfiguration())
        let original = try Self.fields(c)
        for (key, value) in original {
            #expect(value != defaults[key], "\(key) is at its default in the test configuration: give it another value")
        }
        var launch = BackendLaunch(configuration: c, processes: 3, workerIndex: 2, endpointsFile: "/tmp/e.json", stopWithParent: true)
        let decoded = try BackendLaunch(serialized: try launch.serialized())
        #expect(try Self.fields(decoded.configuration) == original)
        #expect(decoded.configuration.blockedFirmware == c.blockedFirmware)
        #expect(decoded.configuration.roster == c.roster)
        #expect(decoded.configuration.lookup == c.lookup)
        #expect(decoded.configuration.admission == c.admission)
        #expect(decoded.configuration.queueTimeout == .seconds(30))
        #expect(decoded.processes == 3 && decoded.workerIndex == 2 && decoded.endpointsFile == "/tmp/e.json" && decoded.stopWithParent)
        launch.workerIndex = nil
        #expect(try BackendLaunch(serialized: try launch.serialized()).workerIndex == nil)
    }

    @Test func aWorkerGetsTheFirstProcessesPortFileAndTokenAndNoRoster() {
        let first = BackendLaunch(configuration: Self.everyFieldSet, processes: 3, endpointsFile: "/tmp/e.json")
        let worker = first.worker(2, port: 8123, databasePath: "/tmp/shared.sqlite", adminToken: "t2")
        #expect(worker.workerIndex == 2 && worker.processes == 1 && worker.endpointsFile == nil && worker.stopWithParent)
        let c = worker.processConfiguration
        #expect(c.port == 8123 && c.databasePath == "/tmp/shared.sqlite" && c.adminToken == "t2" && c.roster == nil)
        #expect(c.reusePort && c.sharesControls && !c.publishesControlsAtStart && c.controlPort == 0)
        let firstConfiguration = first.processConfiguration
        #expect(firstConfiguration.reusePort && firstConfiguration.publishesControlsAtStart)
        var single = BackendLaunch(configuration: ReferenceBackendConfiguration())
        #expect(!single.processConfiguration.reusePort && single.processConfiguration.controlPort == nil)
        single.endpointsFile = "/tmp/e.json"
        #expect(single.processConfiguration.controlPort == 0, "a backend whose endpoints are written down is reachable on its own")
    }

    @Test func databaseWorkersPerProcessAreTheShareRoundedUp() {
        #expect(BackendLaunch.databaseWorkers(cores: 4, processes: 1) == 4)
        #expect(BackendLaunch.databaseWorkers(cores: 4, processes: 3) == 2)
        #expect(BackendLaunch.databaseWorkers(cores: 1, processes: 4) == 1)
        #expect(BackendLaunch.databaseWorkers(cores: 0, processes: 2) == 1)
    }

    @Test func theEndpointsFileReadsBackAsWrittenWithTheKeysScriptsUse() throws {
        let path = NSTemporaryDirectory() + "fleetsim-endpoints-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try BackendEndpoints(contentsOf: path) == nil, "not there yet")
        let e = BackendEndpoints(deviceURL: "ws://127.0.0.1:8080/device", adminToken: "tok",
                                 processes: [.init(index: 1, pid: 43, controlPort: 9002), .init(index: 0, pid: 42, controlPort: 9001)])
        try e.write(to: path)
        #expect(try BackendEndpoints(contentsOf: path) == e)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        #expect(json["device_url"] as? String == "ws://127.0.0.1:8080/device")
        let processes = json["processes"] as! [[String: Any]]
        #expect(processes.map { $0["index"] as? Int } == [0, 1])
        #expect(processes[0]["control_url"] as? String == "http://127.0.0.1:9001")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600, "it holds the admin token")
    }
}
