import ArgumentParser
import Foundation
import Logging
import ReferenceBackend

/// `fleetsim backend`: the reference backend on its own (argument parsing and wiring only).
struct BackendCommand: AsyncParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "backend",
        abstract: "Run the reference backend: a WebSocket device endpoint over a real SQLite registry.",
        discussion: """
            Devices connect to ws://HOST:PORT/device and speak the default protocol: hello → welcome, \
            heartbeat → ack. Beside it: /metrics (Prometheus text), /healthz, and /admin (bearer token).

            The registry can repeat the 2020-02-08 mistake: '--lookup scan:>=3.8.0-b3' makes devices on \
            3.8.0-b3 and above look themselves up with a query SQLite answers by reading every row.

            Examples:
              fleetsim backend --rows 1M
              fleetsim backend --listen 127.0.0.1:8080 --roster fleet.csv --rows 64000
              fleetsim backend --rows 64000 --lookup 'scan:>=3.8.0-b3' --memory-limit 2GiB --restart-delay 1m30s
              fleetsim backend --block '>=3.8.0-b3' --admission-rate 200 --max-pending 100 --admission-retry-after 30s
              fleetsim backend --processes 4 --endpoints-file backend.json
              curl -H "Authorization: Bearer $TOKEN" -d '>=3.8.0-b3' http://127.0.0.1:8080/admin/block

            Admin routes (all need 'Authorization: Bearer TOKEN'): GET /admin (state); POST /admin/block, \
            /admin/unblock (body: a firmware range, or 'all'), /admin/lookup (body: a strategy), \
            /admin/admission (body: 'off' or 'rate=200 burst=400 max-pending=100 retry-after=30s'), \
            /admin/restart (drop every connection and keep the device listener closed for --restart-delay, \
            or for the body's 'down=30s'), /admin/db-workers (body: N, this process's database workers from \
            now on; running queries finish), /admin/fault (body: 'http-errors fraction=0.3 status=503 \
            retry-after=30s', 'latency add=2s', 'db-errors fraction=0.5', 'KIND off' or 'off': faults on until \
            turned off, counted in /metrics).

            With --processes N, the processes share the port and the registry file: block, lookup, \
            admission and fault changes made through /admin reach all of them within half a second; /admin/restart \
            and /admin/db-workers act on the process that answered, and /metrics describes it \
            (fleetsim_backend_process_info names it). To reach one process on purpose, each also serves \
            /metrics, /healthz and /admin on a loopback control port of its own, open even while its device \
            listener is down. --endpoints-file PATH (with any number of processes) writes, once every \
            process is up, {"device_url": "ws://127.0.0.1:PORT/device", "admin_token": "…", "processes": \
            [{"index": 0, "pid": 123, "control_url": "http://127.0.0.1:P0"}, …]}, mode 0600, removed at exit.

            SIGINT or SIGTERM stops the backend cleanly (every pending last_seen update written, exit 0); \
            a second one ends it at once (exit 130); the same signal repeated within half a second counts once.
            """)

    @OptionGroup var options: BackendOptions

    /// Set by a parent process (`fleetsim run`, or the first of `--processes N`): the whole launch,
    /// as `BackendLaunch` JSON in a file; the other backend flags are not read.
    @Option(name: .customLong("launch"), help: .hidden)
    var launchFile: String?

    /// Stop when the process that started this one is gone (killed with no chance to stop its
    /// children), as an embedded backend and worker processes do.
    @Flag(name: .customLong("stop-with-parent"), help: .hidden)
    var stopWithParent = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let launch: BackendLaunch
        do {
            launch = try launchFile.map { try Self.readLaunch($0) } ?? options.launch(stopWithParent: stopWithParent)
        } catch let error as OptionParsing.InvalidOption {
            throw CLIFailure.input("fleetsim backend: \(error)")
        }
        if launch.stopWithParent && !launch.isWorker {
            // In a process group of its own (Foundation's `Process` already starts children so; this
            // holds for any parent): Ctrl-C in the parent's terminal, or `timeout` signalling the
            // parent's group, reaches the parent alone, which stops this backend when its run is over.
            setpgid(0, 0)
        }
        // Before anything slow (seeding can take seconds): the first signal asks for a stop from
        // here on. A worker gets Ctrl-C with its process group and then SIGTERM from the first
        // process, an embedded backend its parent's SIGTERM: neither takes a second one as "now";
        // each stops once, cleanly (or when its parent has gone).
        let stop = Signals.stopLatch(second: launch.stopWithParent ? .ignore : .exitAtOnce)
        let logger = Logger(label: launch.workerIndex.map { "fleetsim.backend.\($0)" } ?? "fleetsim.backend")
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let supervisor = BackendSupervisor(launch: launch, executable: executable, logLevel: logging.level, logger: logger)
        do { try await supervisor.start() } catch {
            throw CLIFailure(message: "fleetsim backend: \(error)", code: 3)
        }
        if let line = supervisor.reportLine {
            print(line)   // the first process reads it to learn where this one is controlled
        } else {
            supervisor.banner().forEach { print($0) }
            print("Ctrl-C stops it (pending last_seen updates are written first).")
        }
        fflush(nil)
        var failure: Error?
        do { try await Lifecycle.run(supervisor.services, until: stop, logger: logger) } catch { failure = error }
        await supervisor.stop()
        if let failure { throw CLIFailure(message: "fleetsim backend: \(failure)", code: 3) }
        if !launch.isWorker { print("fleetsim backend: stopped") }
    }

    /// A launch handed over by a parent process.
    static func readLaunch(_ path: String) throws -> BackendLaunch {
        do { return try BackendLaunch(serialized: try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw OptionParsing.InvalidOption(flag: "--launch", message: "cannot read \(path): \(error)")
        }
    }
}
