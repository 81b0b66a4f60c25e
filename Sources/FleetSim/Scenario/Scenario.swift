import DeviceModel

/// A scenario, validated and resolved: every unit converted, every reference checked.
///
/// This is what `ScenarioLoader` produces from a YAML file (format: scenarios/README.md), and
/// what the simulation engine and the live runner consume. Times are integer nanoseconds,
/// sizes bytes, fractions 0…1.
public struct Scenario: Sendable {
    public var version: Int = 1
    public var name: String
    public var description: String?
    public var seed: UInt64
    /// Scenario time covered by a run.
    public var duration: Nanoseconds
    /// Resolution of the report's series.
    public var interval: Nanoseconds
    /// Optional wall-clock label for t = 0 (e.g. "2020-02-08T00:00:00Z"), used only to print
    /// the timeline on the incident's own clock.
    public var clockStart: String?
    public var network: Network
    public var profiles: [String: Profile]
    public var fleet: [Group]
    public var backend: Backend
    public var timeline: [TimelineEvent]
    public var thresholds: [Threshold]
    /// Where the scenario came from, for messages.
    public var sourcePath: String?
    /// The question of a rollout check (`rollout:`), if the scenario asks one.
    public var rollout: Rollout?
    /// What a live run (`fleetsim run`) reads; a simulation ignores it.
    public var live = Live()

    public struct Live: Sendable {
        /// The device endpoint; nil: the embedded reference backend.
        public var target: String?
        /// Upgrade headers as (name, environment variable): values are read at run time, never
        /// stored in the scenario, a report or a log.
        public var headers: [(name: String, variable: String)] = []
        /// Every scenario duration is divided by this in wall time.
        public var timeScale: Double = 1
        /// Prometheus endpoints scraped every interval (default: the embedded backend's).
        public var observe: [String] = []
        /// How a timeline action reaches a target that is not the embedded backend, by action name
        /// (`hooks:`). Ignored with the embedded backend, whose admin API applies every action.
        public var hooks: [String: Hook] = [:]

        public init() {}
    }

    /// A request or command that applies one timeline action to an external target; its outcome
    /// becomes the action's milestone. Templates may name the action's values as `{firmware}`,
    /// `{gateway}`, `{down}`, `{cores}`, `{admission}`, a fault's `{for}`, `{phase}`, `{fraction}`…,
    /// and `{at}` (see `Hook.placeholders`).
    public struct Hook: Sendable, Equatable {
        public enum Call: Sendable, Equatable {
            /// An HTTP(S) request; with `tokenVariable`, `Authorization: Bearer $VARIABLE` (read at
            /// run time, never written anywhere).
            case http(method: String, url: String, body: String?, tokenVariable: String?)
            /// A command run by `/bin/sh -c`; placeholders are substituted shell-quoted, and the
            /// same values are in the environment as `FLEETSIM_FIRMWARE`, `FLEETSIM_GATEWAY`, ….
            case shell(String)
        }
        public var call: Call
        /// The hook fails when it has not finished by then (wall time).
        public var timeout: Nanoseconds

        public init(call: Call, timeout: Nanoseconds) {
            self.call = call
            self.timeout = timeout
        }

        /// The timeline actions a hook can apply, with the placeholders each one fills.
        public static let placeholders: [(action: String, names: [String])] = [
            ("block", ["firmware"]),
            ("unblock", ["firmware"]),
            ("restart-gateways", ["gateway", "down"]),
            ("set-db-cores", ["cores"]),
            ("set-admission", ["admission"]),
            // Faults: the hook runs at the start and at the end (`{phase}`: start or end).
            ("outage", ["for", "phase"]),
            ("fail-gateway", ["gateway", "for", "phase"]),
            ("http-errors", ["fraction", "status", "retry_after", "for", "phase"]),
            ("latency", ["add", "for", "phase"]),
            ("db-errors", ["fraction", "for", "phase"]),
            ("feature-failure", ["message", "model", "firmware", "for", "phase"]),
        ]
    }

    public init(name: String, seed: UInt64, duration: Nanoseconds, interval: Nanoseconds,
                network: Network = Network(), profiles: [String: Profile], fleet: [Group],
                backend: Backend, timeline: [TimelineEvent] = [], thresholds: [Threshold] = []) {
        self.name = name
        self.seed = seed
        self.duration = duration
        self.interval = interval
        self.network = network
        self.profiles = profiles
        self.fleet = fleet
        self.backend = backend
        self.timeline = timeline
        self.thresholds = thresholds
    }

    public struct Network: Sendable, Equatable {
        /// One-way latency between a device and the backend.
        public var latency: Nanoseconds = 20 * Time.millisecond
        public init(latency: Nanoseconds = 20 * Time.millisecond) { self.latency = latency }
    }

    /// How the backend looks a device up when it says hello: the 2020 firmware made it scan.
    public enum Lookup: String, Sendable, Equatable, CaseIterable {
        case indexed, scan
    }

    /// A device profile: behaviour shared by the devices of one or more groups.
    public struct Profile: Sendable, Equatable {
        public var name: String
        public var lookup: Lookup
        public var behaviour: DeviceBehaviour
        /// Mean lifetime of a session before the network drops it (exponentially distributed);
        /// nil for sessions that last until something else ends them.
        public var sessionLifetime: Nanoseconds?
        /// What the devices say and recognise live (`protocol:`); nil: the default protocol.
        public var protocolSpec: DeviceProtocol?
        /// Extra messages an online device sends besides its heartbeats (`messages:`), each
        /// with its mean interval: the operations a `feature-failure` can fail.
        public var messages: [Message] = []

        public init(name: String, lookup: Lookup, behaviour: DeviceBehaviour, sessionLifetime: Nanoseconds? = nil) {
            self.name = name
            self.lookup = lookup
            self.behaviour = behaviour
            self.sessionLifetime = sessionLifetime
        }
    }

    /// An extra message of a profile: its kind (`call-join`) and the mean time between two.
    public struct Message: Sendable, Equatable {
        public var kind: String
        public var every: Nanoseconds
        public init(kind: String, every: Nanoseconds) {
            self.kind = kind
            self.every = every
        }
    }

    /// A group of devices with one firmware and one profile.
    public struct Group: Sendable, Equatable {
        public var name: String
        public var count: Int
        public var firmware: FirmwareVersion
        public var profile: String
        /// When the first device joins, and over how long the group's devices join (evenly spread).
        public var joinAt: Nanoseconds = 0
        public var ramp: Nanoseconds = 0
        /// Devices start already online (a fleet in steady state) instead of connecting.
        public var warm: Bool = false
        /// Real identities imported from a CSV file; nil: UUIDs derived from (seed, index).
        public var roster: [DeviceRoster.Entry]?
        /// The hardware model (`model:`), which `feature-failure` can select; nil: not said.
        public var model: String?

        public init(name: String, count: Int, firmware: FirmwareVersion, profile: String,
                    joinAt: Nanoseconds = 0, ramp: Nanoseconds = 0, warm: Bool = false) {
            self.name = name
            self.count = count
            self.firmware = firmware
            self.profile = profile
            self.joinAt = joinAt
            self.ramp = ramp
            self.warm = warm
        }
    }

    /// The backend model used by `simulate` (DESIGN.md, "The backend model").
    public struct Backend: Sendable, Equatable {
        public var gateways: Gateways
        public var database: Database
        public var admission: Admission?
        public var loadBalancer: LoadBalancing = .roundRobin

        /// The backend of a live run against a target the scenario does not model: one gateway
        /// with no memory limit and a database that costs nothing (only the target's metrics say more).
        public static let unmodelled = Backend(
            gateways: Gateways(count: 1, memoryBase: 0, memoryLimit: Int64.max / 4, perConnection: 0, perPending: 0, restart: Time.second),
            database: Database(cores: 1, rows: 0, scanCostPerRow: 0, indexedCost: 0, heartbeatCost: 0))

        public init(gateways: Gateways, database: Database, admission: Admission? = nil,
                    loadBalancer: LoadBalancing = .roundRobin) {
            self.gateways = gateways
            self.database = database
            self.admission = admission
            self.loadBalancer = loadBalancer
        }
    }

    public enum LoadBalancing: String, Sendable, Equatable, CaseIterable {
        case roundRobin = "round-robin"
        case leastConnections = "least-connections"
    }

    public struct Gateways: Sendable, Equatable {
        public var count: Int
        /// Memory of an idle gateway process.
        public var memoryBase: Int64
        /// Above this the gateway runs out of memory: it crashes and drops every connection.
        public var memoryLimit: Int64
        public var perConnection: Int64
        /// Memory held by a handshake from hello until its lookup completes.
        public var perPending: Int64
        /// Time from a crash until the gateway accepts connections again.
        public var restart: Nanoseconds

        public init(count: Int, memoryBase: Int64, memoryLimit: Int64, perConnection: Int64,
                    perPending: Int64, restart: Nanoseconds) {
            self.count = count
            self.memoryBase = memoryBase
            self.memoryLimit = memoryLimit
            self.perConnection = perConnection
            self.perPending = perPending
            self.restart = restart
        }
    }

    public struct Database: Sendable, Equatable {
        public var cores: Int
        /// Rows in the devices table: a full scan costs `rows × scanCostPerRow`.
        public var rows: Int
        public var scanCostPerRow: Nanoseconds
        public var indexedCost: Nanoseconds
        public var heartbeatCost: Nanoseconds
        /// Work that would wait longer than this in the gateways' connection pools is refused
        /// without reaching the database (a pool's acquire timeout); nil: waits forever.
        public var queueTimeout: Nanoseconds?
        /// Speed of each core relative to the costs above (1: as written). `--scale` uses it to
        /// keep capacity proportional when the core count must be rounded.
        public var speed: Double = 1

        public init(cores: Int, rows: Int, scanCostPerRow: Nanoseconds, indexedCost: Nanoseconds,
                    heartbeatCost: Nanoseconds, queueTimeout: Nanoseconds? = nil) {
            self.cores = cores
            self.rows = rows
            self.scanCostPerRow = scanCostPerRow
            self.indexedCost = indexedCost
            self.heartbeatCost = heartbeatCost
            self.queueTimeout = queueTimeout
        }
    }

    /// Admission control at the gateways (off unless present): excess is answered with close
    /// code 1013 and a Retry-After. The one admission type, DeviceModel's `AdmissionPolicy`, which
    /// the model's gateways and the reference backend both apply; a scenario's always has its
    /// Retry-After (`defaultRetryAfter` unless the file gives one).
    public typealias Admission = AdmissionPolicy
    /// The Retry-After of a scenario's admission control when the file gives none.
    public static let defaultRetryAfter = 30 * Time.second

    /// Something that happens at a scheduled time.
    public struct TimelineEvent: Sendable, Equatable {
        public var at: Nanoseconds
        public var action: Action
        /// Optional note printed with the milestone (e.g. "13:46 backends stopped for failover").
        public var note: String?

        public init(at: Nanoseconds, action: Action, note: String? = nil) {
            self.at = at
            self.action = action
            self.note = note
        }
    }

    public enum Action: Sendable, Equatable {
        /// Add `count` devices to a group (its firmware and profile), joining evenly over `ramp`.
        case addDevices(group: String, count: Int, ramp: Nanoseconds)
        /// Refuse devices whose firmware is in the range, before any database work.
        case block(FirmwareRange)
        case unblock(FirmwareRange)
        /// Restart gateways (nil: all): they drop their connections and come back after `down`.
        case restartGateways(gateway: Int?, down: Nanoseconds)
        /// Set the database's cores.
        case setDatabaseCores(Int)
        /// Drop this fraction of the online sessions (a network event).
        case dropSessions(fraction: Double)
        /// Turn admission control on (or change it), or off with nil.
        case setAdmission(Admission?)

        // Faults: each holds for `duration`, then the backend (or the name) is as before.

        /// The whole backend refuses connections and drops every session, then comes back.
        case outage(duration: Nanoseconds)
        /// One gateway crashes and stays down: its devices go offline and reconnect elsewhere.
        case failGateway(gateway: Int, duration: Nanoseconds)
        /// This fraction of WebSocket upgrades is answered with an HTTP `status` (5xx), with a
        /// Retry-After when given.
        case httpErrors(fraction: Double, status: Int, retryAfter: Nanoseconds?, duration: Nanoseconds)
        /// The backend takes `add` longer to answer a hello or a heartbeat.
        case latency(add: Nanoseconds, duration: Nanoseconds)
        /// This fraction of database queries fail (a storage problem).
        case dbErrors(fraction: Double, duration: Nanoseconds)
        /// The backend's name does not resolve: every connect attempt fails before it reaches it.
        case dnsFailure(duration: Nanoseconds)
        /// The group's devices leave the fleet for good (powered off): they disconnect and stop
        /// counting as eligible; those not yet joined never join.
        case removeDevices(group: String)
        /// One operation fails for a cohort without a disconnect: devices of the `model` (nil:
        /// any) whose firmware is in `firmware` (nil: any) get an error reply to `message`.
        case featureFailure(model: String?, firmware: FirmwareRange?, message: String, duration: Nanoseconds)

        /// How long a fault lasts; nil for the actions that are not faults.
        public var faultDuration: Nanoseconds? {
            switch self {
            case .outage(let d), .failGateway(_, let d), .httpErrors(_, _, _, let d), .latency(_, let d),
                 .dbErrors(_, let d), .dnsFailure(let d), .featureFailure(_, _, _, let d): return d
            case .addDevices, .block, .unblock, .restartGateways, .setDatabaseCores, .dropSessions, .setAdmission,
                 .removeDevices: return nil
            }
        }

        /// The action's name in a scenario file.
        public var name: String {
            switch self {
            case .addDevices: return "add-devices"
            case .block: return "block"
            case .unblock: return "unblock"
            case .restartGateways: return "restart-gateways"
            case .setDatabaseCores: return "set-db-cores"
            case .dropSessions: return "drop-sessions"
            case .setAdmission: return "set-admission"
            case .outage: return "outage"
            case .failGateway: return "fail-gateway"
            case .httpErrors: return "http-errors"
            case .latency: return "latency"
            case .dbErrors: return "db-errors"
            case .dnsFailure: return "dns-failure"
            case .removeDevices: return "remove-devices"
            case .featureFailure: return "feature-failure"
            }
        }

        /// The action's name when the backend carries it out and a hook can apply it to an
        /// external target (`hooks:`); nil for what the devices do themselves (`add-devices`,
        /// `drop-sessions`, and the client-side faults `dns-failure` and `remove-devices`).
        public var hookName: String? {
            switch self {
            case .block, .unblock, .restartGateways, .setDatabaseCores, .setAdmission,
                 .outage, .failGateway, .httpErrors, .latency, .dbErrors, .featureFailure: return name
            case .addDevices, .dropSessions, .dnsFailure, .removeDevices: return nil
            }
        }
    }

    /// A pass/fail condition on a summary metric, k6-style: `metric: ["p99 < 500"]`.
    /// Parsed and carried into the report; evaluated by the report layer.
    public struct Threshold: Sendable, Equatable {
        public var metric: String
        public var expression: String
        /// Where it was written, for messages ("file:line:column").
        public var location: String?
        /// Stop a live run as soon as this threshold fails (`{ threshold: "p99 < 500", abort_on_fail: true }`).
        public var abortOnFail: Bool

        public init(metric: String, expression: String, location: String? = nil, abortOnFail: Bool = false) {
            self.metric = metric
            self.expression = expression
            self.location = location
            self.abortOnFail = abortOnFail
        }
    }

    /// Total devices over the run, including those added by the timeline.
    public var totalDevices: Int {
        fleet.reduce(0) { $0 + $1.count } + timeline.reduce(0) {
            if case .addDevices(_, let count, _) = $1.action { return $0 + count }
            return $0
        }
    }
}
