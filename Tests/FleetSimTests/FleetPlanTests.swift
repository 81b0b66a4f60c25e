import DeviceModel
import Foundation
import Testing
@testable import FleetSim

/// Two groups and a timeline that adds devices to the first: 5 + 3 + 4 devices.
private let grown = """
version: 1
name: plan
seed: 77
duration: 2h
profiles:
  p: {}
fleet:
  - { name: a, count: 5, firmware: 3.7.2, profile: p, join: { ramp: 10m } }
  - { name: b, count: 3, firmware: 3.8.0-b3, profile: p, join: { at: 5m } }
backend:
  gateways: { count: 1 }
  database: { cores: 1, rows: 10 }
timeline:
  - { at: 30m, action: add-devices, group: a, count: 4, ramp: 2m }
  - { at: 40m, action: add-devices, group: b, count: 0 }
"""

private func plan(_ yaml: String = grown, path: String = "plan.yaml", shard: FleetPlan.Shard = .whole) throws -> FleetPlan {
    FleetPlan(scenario: try ScenarioLoader.load(yaml: yaml, path: path), shard: shard)
}

// MARK: Numbering and join times

@Test func devicesAreNumberedGroupByGroupThenTheTimelinesAdditions() throws {
    let p = try plan()
    #expect(p.deviceCount == 12)
    #expect(p.cohorts.map(\.group) == [0, 1, 0, 1])
    #expect(p.cohorts.map(\.first) == [0, 5, 8, 12])
    #expect(p.cohorts.map(\.count) == [5, 3, 4, 0])
    #expect((0..<12).map { p.group(ofDevice: $0) } == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    #expect(p.groups.map(\.name) == ["a", "b"])
}

@Test func joinsAreSpreadEvenlyOverTheRamp() throws {
    let p = try plan()
    #expect((0..<5).map { p.joinTime(ofDevice: $0) } == [0, 2, 4, 6, 8].map { $0 * Time.minute })
    #expect((8..<12).map { p.joinTime(ofDevice: $0) } == [0, 30, 60, 90].map { 30 * Time.minute + $0 * Time.second })
}

@Test func aGroupWithoutRampJoinsAllAtOnceAtItsTime() throws {
    let p = try plan()
    #expect((5..<8).map { p.joinTime(ofDevice: $0) } == Array(repeating: 5 * Time.minute, count: 3))
}

@Test func aDevicesRandomStreamDependsOnItsNumberAndTheSeed() throws {
    let p = try plan()
    var a = p.random(ofDevice: 3), again = p.random(ofDevice: 3), other = p.random(ofDevice: 4)
    let first = a.next()
    #expect(first == again.next())
    #expect(first != other.next())
    let reseeded = try plan(grown.replacingOccurrences(of: "seed: 77", with: "seed: 78"))
    var r = reseeded.random(ofDevice: 3)
    #expect(first != r.next())
}

// MARK: Shards

@Test func shardsPartitionTheFleet() throws {
    let whole = try plan()
    for n in 1...4 {
        var seen: [Int] = []
        for i in 0..<n {
            let shard = try plan(shard: FleetPlan.Shard(index: i, count: n))
            let devices = Array(shard.shardDevices)
            #expect(devices.allSatisfy { $0 % n == i && shard.shard.contains($0) }, "shard \(i)/\(n)")
            #expect(shard.shardDeviceCount == devices.count, "shard \(i)/\(n)")
            #expect(shard.deviceCount == whole.deviceCount)
            seen += devices
        }
        #expect(seen.sorted() == Array(0..<whole.deviceCount), "n = \(n)")
        #expect(Set(seen).count == seen.count, "n = \(n)")
    }
}

@Test func aShardWithMoreShardsThanDevicesRunsNone() throws {
    let yaml = grown.components(separatedBy: "timeline:")[0]
        .replacingOccurrences(of: "count: 5,", with: "count: 1,").replacingOccurrences(of: "count: 3,", with: "count: 1,")
    let p = try plan(yaml, shard: FleetPlan.Shard(index: 3, count: 4))
    #expect(p.deviceCount == 2)
    #expect(Array(p.shardDevices).isEmpty && p.shardDeviceCount == 0)
}

@Test func aDeviceIsTheSameDeviceInEveryShard() throws {
    let whole = try plan()
    let identities = (0..<whole.deviceCount).map { whole.identity(ofDevice: $0) }
    #expect(Set(identities.map(\.uuid)).count == whole.deviceCount)
    for n in 1...4 {
        for i in 0..<n {
            let shard = try plan(shard: FleetPlan.Shard(index: i, count: n))
            for d in shard.shardDevices {
                #expect(shard.identity(ofDevice: d) == identities[d], "device \(d) in \(i)/\(n)")
                #expect(shard.joinTime(ofDevice: d) == whole.joinTime(ofDevice: d))
                #expect(shard.group(ofDevice: d) == whole.group(ofDevice: d))
                var a = shard.random(ofDevice: d), b = whole.random(ofDevice: d)
                #expect((0..<4).map { _ in a.next() } == (0..<4).map { _ in b.next() }, "device \(d) in \(i)/\(n)")
            }
        }
    }
}

@Test func aShardIsParsedFromIndexSlashCount() {
    #expect(FleetPlan.Shard(parsing: "0/1") == .whole)
    #expect(FleetPlan.Shard(parsing: "2/3") == FleetPlan.Shard(index: 2, count: 3))
    #expect(FleetPlan.Shard(parsing: "2/3")?.description == "2/3")
    for bad in ["3/3", "a/b", "1", "1/0", "-1/2", "0/-1", "1/2/3", "/2", "1/", "", " 1/2"] {
        #expect(FleetPlan.Shard(parsing: bad) == nil, "\"\(bad)\"")
    }
}

// MARK: Identities

/// `a` takes its first identities from a three-row roster: two at the start, one more from the
/// timeline's addition, whose two other devices have derived UUIDs.
private func rosterPlan() throws -> (FleetPlan, [DeviceUUID]) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fleetsim-plan-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let rows = ["0b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89", "1b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89", "2b6f3f2e-6c1d-4c7a-9a8e-2f4d5c6b7a89"]
    try ("uuid,firmware\n" + rows.map { "\($0),3.6.0\n" }.joined())
        .write(to: folder.appendingPathComponent("devices.csv"), atomically: true, encoding: .utf8)
    let yaml = grown
        .replacingOccurrences(of: "name: a, count: 5,", with: "name: a, count: 2, devices: devices.csv,")
        .replacingOccurrences(of: "group: a, count: 4, ramp: 2m", with: "group: a, count: 3, ramp: 2m")
    let p = try plan(yaml, path: folder.appendingPathComponent("s.yaml").path)
    return (p, rows.map { DeviceUUID($0)! })
}

@Test func rosterIdentitiesAreUsedInOrderAndDerivedUUIDsFollow() throws {
    let (p, roster) = try rosterPlan()
    // a: 0, 1 (roster rows 1, 2); b: 2, 3, 4; a's addition: 5 (row 3), 6, 7 (derived).
    #expect(p.deviceCount == 8)
    #expect(p.identity(ofDevice: 0).uuid == roster[0])
    #expect(p.identity(ofDevice: 1).uuid == roster[1])
    #expect(p.identity(ofDevice: 5).uuid == roster[2])
    for d in [2, 3, 4, 6, 7] {
        #expect(p.identity(ofDevice: d).uuid == DeviceUUID(seed: 77, index: UInt64(d)), "device \(d)")
    }
    // The group's firmware, not the roster's.
    #expect([0, 1, 5, 6, 7].allSatisfy { p.identity(ofDevice: $0).firmware == FirmwareVersion("3.7.2")! })
    #expect([2, 3, 4].allSatisfy { p.identity(ofDevice: $0).firmware == FirmwareVersion("3.8.0-b3")! })
}

@Test func theRosterIsThePlansIdentitiesAndSurvivesJSON() throws {
    for p in [try plan(), try rosterPlan().0] {
        let roster = p.roster()
        #expect(roster == (0..<p.deviceCount).map { p.identity(ofDevice: $0) })
        #expect(try JSONDecoder().decode([DeviceRoster.Entry].self, from: JSONEncoder().encode(roster)) == roster)
    }
}

@Test func theRosterListsTheWholeFleetFromAnyShard() throws {
    let whole = try plan().roster()
    #expect(try plan(shard: FleetPlan.Shard(index: 1, count: 3)).roster() == whole)
}
