import DeviceModel
import Foundation

/// Who is in the fleet: every device of a run, numbered, with its group, behaviour, random
/// stream, identity and join time. The simulation engine, the live runner and the seeding of the
/// reference backend's registry all read the fleet from here, so a device is the same device in
/// each of them (same number, same stream, same UUID).
///
/// Devices are numbered group by group in scenario order, then the devices that timeline
/// `add-devices` events add, in timeline order. Each batch is a *cohort* of consecutive numbers
/// joining evenly over a ramp. A shard (`--shard i/n`) keeps the devices whose number is ≡ i
/// (mod n), each with its global number, stream and UUID, so the union of the shards is the fleet.
public struct FleetPlan: Sendable {
    public struct Group: Sendable {
        public var name: String
        public var firmware: FirmwareVersion
        public var profile: String
        public var behaviour: DeviceBehaviour
        public var lookup: Scenario.Lookup
        public var sessionLifetime: Nanoseconds?
        public var warm: Bool
        /// Identities read from the group's CSV roster, used in order by its devices.
        public var roster: [DeviceRoster.Entry]
    }

    /// Consecutive device numbers of one group joining evenly over `ramp` from `at`.
    public struct Cohort: Sendable, Equatable {
        public var group: Int
        public var first: Int
        public var count: Int
        public var at: Nanoseconds
        public var ramp: Nanoseconds
        /// Where this cohort's devices start in their group's roster.
        public var rosterOffset: Int

        /// When the k-th device of the cohort joins.
        @inline(__always)
        public func time(_ k: Int) -> Nanoseconds {
            count > 1 ? at + Nanoseconds(Double(ramp) * Double(k) / Double(count)) : at
        }
    }

    /// A slice of the fleet run by one process: devices whose number is ≡ `index` (mod `count`).
    public struct Shard: Sendable, Equatable, CustomStringConvertible {
        public var index: Int
        public var count: Int

        public static let whole = Shard(index: 0, count: 1)

        public init(index: Int, count: Int) {
            precondition(count >= 1 && (0..<count).contains(index), "shard \(index)/\(count)")
            self.index = index
            self.count = count
        }

        /// Parses `i/n` (0-based i), as `--shard` takes it.
        public init?(parsing text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (0..<n).contains(i) else { return nil }
            self.init(index: i, count: n)
        }

        /// Parses `--shard`: `i/n`, or `auto/n`, where i is a Kubernetes Indexed Job's completion
        /// index (`JOB_COMPLETION_INDEX`, 0…n−1, set in each pod). Throws the one-line reason.
        public init(argument text: String, environment: [String: String]) throws {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 2, parts[0] == "auto" {
                guard let n = Int(parts[1]), n >= 1 else {
                    throw ShardError("expected auto/n with n ≥ 1, like auto/16, got \"\(text)\"")
                }
                guard let raw = environment[Shard.indexVariable] else {
                    throw ShardError("auto/\(n) takes the shard from \(Shard.indexVariable), which is not set (a Kubernetes Indexed Job sets it in each pod)")
                }
                guard let i = Int(raw.trimmingCharacters(in: .whitespaces)), (0..<n).contains(i) else {
                    throw ShardError("\(Shard.indexVariable)=\"\(raw)\" is not a shard of auto/\(n): expected 0…\(n - 1) (the Job's completions must be \(n))")
                }
                self.init(index: i, count: n)
                return
            }
            guard let shard = Shard(parsing: text) else {
                throw ShardError("expected i/n with 0 ≤ i < n, like 0/2, or auto/n in a Kubernetes Indexed Job, got \"\(text)\"")
            }
            self = shard
        }

        /// The variable a Kubernetes Indexed Job sets to each pod's index.
        public static let indexVariable = "JOB_COMPLETION_INDEX"

        public struct ShardError: Error, CustomStringConvertible {
            public var description: String
            init(_ d: String) { description = d }
        }

        @inline(__always)
        public func contains(_ device: Int) -> Bool { device % count == index }

        public var description: String { "\(index)/\(count)" }
    }

    public let seed: UInt64
    public let groups: [Group]
    /// In device-number order.
    public let cohorts: [Cohort]
    /// Devices in the whole fleet (every shard), including those the timeline adds.
    public let deviceCount: Int
    public let shard: Shard

    public init(scenario: Scenario, shard: Shard = .whole) {
        seed = scenario.seed
        self.shard = shard
        var groups: [Group] = []
        var index: [String: Int] = [:]
        for g in scenario.fleet {
            let profile = scenario.profiles[g.profile]!
            index[g.name] = groups.count
            groups.append(Group(name: g.name, firmware: g.firmware, profile: g.profile, behaviour: profile.behaviour,
                                lookup: profile.lookup, sessionLifetime: profile.sessionLifetime, warm: g.warm,
                                roster: g.roster ?? []))
        }
        var cohorts: [Cohort] = []
        var next = 0
        var used = Array(repeating: 0, count: groups.count)
        func add(group: Int, count: Int, at: Nanoseconds, ramp: Nanoseconds) {
            cohorts.append(Cohort(group: group, first: next, count: count, at: at, ramp: ramp, rosterOffset: used[group]))
            used[group] += count
            next += count
        }
        for (g, group) in scenario.fleet.enumerated() { add(group: g, count: group.count, at: group.joinAt, ramp: group.ramp) }
        for event in scenario.timeline {
            if case .addDevices(let name, let count, let ramp) = event.action, let g = index[name] {
                add(group: g, count: count, at: event.at, ramp: ramp)
            }
        }
        self.groups = groups
        self.cohorts = cohorts
        self.deviceCount = next
    }

    /// The cohort a device belongs to (binary search over the few cohorts).
    public func cohort(ofDevice d: Int) -> Cohort {
        var lo = 0, hi = cohorts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if cohorts[mid].first <= d { lo = mid } else { hi = mid - 1 }
        }
        return cohorts[lo]
    }

    public func group(ofDevice d: Int) -> Int { cohort(ofDevice: d).group }

    /// The device's own random stream: the same in a simulation, a live run and every shard.
    @inline(__always)
    public func random(ofDevice d: Int) -> SeededRandom { SeededRandom(seed: seed, stream: UInt64(d)) }

    /// When the device joins the fleet.
    public func joinTime(ofDevice d: Int) -> Nanoseconds {
        let c = cohort(ofDevice: d)
        return c.time(d - c.first)
    }

    /// The device's identity: its row of the group's CSV roster, or a UUID derived from the seed
    /// and the device number (`DeviceUUID(seed:index:)`), with its group's firmware.
    public func identity(ofDevice d: Int) -> DeviceRoster.Entry {
        let c = cohort(ofDevice: d)
        let group = groups[c.group]
        let k = c.rosterOffset + (d - c.first)
        let uuid = k < group.roster.count ? group.roster[k].uuid : DeviceUUID(seed: seed, index: UInt64(d))
        return DeviceRoster.Entry(uuid: uuid, firmware: group.firmware)
    }

    // MARK: Per-device draws that do not depend on other devices' history

    /// How long session number `session` of a device lasts when sessions end at random
    /// (`session_lifetime`: exponential lifetimes with that mean), drawn by hashing.
    @inline(__always)
    public func sessionLifetime(ofDevice d: Int, session: UInt32, mean: Nanoseconds) -> Nanoseconds {
        let u = SeededRandom.unit(hashing: seed ^ UInt64(d) << 20 ^ UInt64(session) << 48 ^ 0x11)
        return max(1, Nanoseconds(-log1p(-u) * Double(mean)))
    }

    /// Whether timeline event `event` (`drop-sessions` with this fraction) drops the device's session.
    @inline(__always)
    public func dropsSession(ofDevice d: Int, event: Int, fraction: Double) -> Bool {
        SeededRandom.unit(hashing: seed ^ UInt64(d) &* 0x9E37 ^ UInt64(event) << 40 ^ 0x22) < fraction
    }

    /// Where in its first heartbeat interval a device of a warm group connects in a live run (0…1).
    public func warmPhase(ofDevice d: Int) -> Double {
        SeededRandom.unit(hashing: seed ^ UInt64(d) << 24 ^ 0x33)
    }

    /// The devices this shard runs, by number.
    public var shardDevices: StrideTo<Int> { stride(from: shard.index, to: deviceCount, by: shard.count) }

    /// How many devices this shard runs.
    public var shardDeviceCount: Int { deviceCount > shard.index ? (deviceCount - shard.index + shard.count - 1) / shard.count : 0 }

    /// Every device of the fleet (all shards), by number: the roster the reference backend's
    /// registry is seeded from, so the fleet's lookups find rows.
    public func roster() -> [DeviceRoster.Entry] {
        (0..<deviceCount).map { identity(ofDevice: $0) }
    }
}
