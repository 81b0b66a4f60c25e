import DeviceModel
import NIOCore

/// Everything the reference backend can be told: `fleetsim backend`'s flags build it, `fleetsim run`
/// builds it from a scenario, tests build it in-process. It crosses a process boundary (to a
/// worker process, or to an embedded backend) as its `Codable` form only (`BackendLaunch`).
public struct ReferenceBackendConfiguration: Sendable, Codable {
    /// Address to listen on. Loopback unless the user names another address.
    public var host = "127.0.0.1"
    /// Port; 0 picks a free one (read it from `start()`).
    public var port = 0
    /// Registry file: reused when it has a `devices` table, created and seeded when not.
    /// nil: a fresh file in the temporary directory, removed at shutdown.
    public var databasePath: String?
    /// Rows seeded into a new registry (in total, roster included).
    public var rows = 100_000
    /// Devices seeded first into a new registry (ids 1…k), so that a fleet built from the same
    /// roster finds itself with indexed hits; filler rows follow up to `rows`. nil: filler rows only.
    public var roster: [DeviceRoster.Entry]?
    /// UUID lookup per firmware range.
    public var lookup = LookupPolicy.indexed
    /// What each query kind costs, stated (wall-clock time a worker is held, whatever the
    /// machine): the database's capacity is `databaseWorkers` ÷ these costs. Empty: every query
    /// takes what it really takes. See `StatedQueryCosts`.
    public var statedCosts = StatedQueryCosts()
    /// Threads running database work (each with its own SQLite connection).
    public var databaseWorkers = System.coreCount
    /// Event-loop threads serving sockets.
    public var eventLoopThreads = System.coreCount
    /// Firmware rejected at upgrade (403) or hello (close 4003).
    public var blockedFirmware: [FirmwareRange] = []
    /// Admission control; off by default, as in 2020.
    public var admission = AdmissionPolicy()
    /// Anonymous resident memory in bytes (heap and stacks, not the mapped registry file) past which
    /// the backend "crashes": it drops every connection, counts
    /// a crash and reopens its listener after `restartDelay`. The guard adds the pending handshakes'
    /// stated memory (`pendingMemory` each). nil: no guard.
    public var memoryLimit: Int?
    /// Memory each handshake holds while it waits for its lookup (request context, result rows):
    /// stated, added to the real anonymous memory the guard reads (`PendingMemory`), returned when
    /// the query has run or expired, or at a crash. 0: none.
    public var pendingMemory = 0
    /// A lookup that waits longer than this for a database worker is not run and the device is
    /// closed with 1011 (a connection pool's acquire timeout). nil: lookups wait as long as it takes.
    public var queueTimeout: TimeAmount?
    /// How often the memory guard looks.
    public var memoryCheckInterval: TimeAmount = .milliseconds(200)
    /// How long the listener stays closed after a crash or an admin restart.
    public var restartDelay: TimeAmount = .seconds(5)
    /// A device that has not sent `hello` this long after the upgrade is closed with 4008.
    public var helloTimeout: TimeAmount = .seconds(10)
    /// A connection that has not completed an HTTP request this long after opening gets 408.
    public var requestTimeout: TimeAmount = .seconds(10)
    /// Largest WebSocket frame accepted; larger ones are closed with 1009.
    public var maxFrameSize = 4096
    /// Bearer token for `/admin`; nil: one is generated (read it from `adminToken`).
    public var adminToken: String?
    /// How often batched `last_seen` updates are written.
    public var lastSeenFlushInterval: TimeAmount = .seconds(1)
    /// Share the port with other processes (`SO_REUSEPORT`), for `--processes N`.
    public var reusePort = false
    /// Share runtime controls (block list, lookup, admission) with the other processes on this
    /// registry file through its `backend_controls` table: set by `--processes N`.
    public var sharesControls = false
    /// With `sharesControls`: write this process's controls to the table at start (the first
    /// process does; the ones it starts read them instead).
    public var publishesControlsAtStart = true
    /// How often a process that shares controls reads the others' changes.
    public var controlsPollInterval: TimeAmount = .milliseconds(500)
    /// A loopback port serving `/metrics`, `/healthz` and `/admin` for this process alone, open even
    /// while the device listener is down (0: any free port; read it from `controlPort`). nil: none.
    /// With `--processes N` it is how each process is scraped and restarted on its own.
    public var controlPort: Int?
    /// Listen backlog.
    public var backlog: Int32 = 4096
    /// Where the memory guard reads the process's memory; nil: anonymous resident memory from `/proc`.
    /// Tests replace it to drive the guard without allocating gigabytes.
    public var memoryReader: (@Sendable () -> Int)?

    public init() {}

    /// What crosses a process boundary: every stored property but `memoryReader` (a closure). A
    /// new field is one case here; `ConfigurationCodingTests` fails while one is missing.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port, databasePath, rows, roster, lookup, databaseWorkers, eventLoopThreads, blockedFirmware, admission
        case memoryLimit, pendingMemory, queueTimeout, memoryCheckInterval, restartDelay, helloTimeout, requestTimeout
        case maxFrameSize, adminToken, lastSeenFlushInterval, reusePort, sharesControls, publishesControlsAtStart
        case controlsPollInterval, controlPort, backlog, statedCosts
    }
}
