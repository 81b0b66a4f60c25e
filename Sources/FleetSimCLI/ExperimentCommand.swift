import ArgumentParser
import FleetSim
import Foundation

/// `fleetsim experiment`: published experiments re-run with FleetSim's own models.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Re-run a published experiment with FleetSim's models and compare with the published result.",
        subcommands: [AWSBackoff.self])

    /// The AWS Architecture Blog's "Exponential Backoff And Jitter" (see docs/aws-backoff-validation.md).
    struct AWSBackoff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "aws-backoff",
            abstract: "OCC clients retrying with no backoff, exponential, full, equal and decorrelated jitter (Brooker, 2015).",
            discussion: """
            N clients each write one row once with optimistic concurrency control; a conflicting write \
            backs off with our ReconnectPolicy and retries. Base 5 ms, cap 2 s, each network hop \
            |Normal(10 ms, 2 ms)|. Prints mean writes ("calls") and mean time until the last client \
            succeeded, per policy and N, then the post's findings checked against our figures. \
            Deterministic per seed.
            """)

        @Option(name: .long, help: "Trials averaged per policy and client count (the post's simulator: 100).")
        var trials: Int = 100

        @Option(name: .long, help: "Seed of the random draws.")
        var seed: UInt64 = 1

        @Option(name: .long, parsing: .upToNextOption,
                help: ArgumentHelp("Client counts (default: 10 20 … 190).", valueName: "N"))
        var clients: [Int] = BackoffExperiment.publishedClients

        @Option(name: .customLong("first-retry-attempt"),
                help: "The attempt number our policies get on a client's first retry (1: as the published simulator; 0: FleetSim's convention).")
        var firstRetryAttempt: Int = 1

        @Option(name: .customLong("compare-at"), help: "Client count at which the published findings are checked.")
        var compareAt: Int = 100

        func validate() throws {
            guard trials > 0 else { throw ValidationError("--trials: expected a positive number, got \(trials)") }
            guard !clients.isEmpty, clients.allSatisfy({ $0 > 0 && $0 <= 100_000 }) else {
                throw ValidationError("--clients: expected client counts between 1 and 100000")
            }
            guard (0...30).contains(firstRetryAttempt) else {
                throw ValidationError("--first-retry-attempt: expected 0…30, got \(firstRetryAttempt)")
            }
        }

        func run() throws {
            var config = BackoffExperiment.Configuration.published
            config.firstRetryAttempt = firstRetryAttempt
            let strategies = BackoffExperiment.Strategy.allCases
            let rows = BackoffExperiment.run(clients: clients, strategies: strategies, trials: trials,
                                             seed: seed, configuration: config)

            print("Exponential Backoff And Jitter (Brooker, 2015) with FleetSim's ReconnectPolicy")
            print("base 5 ms, cap 2 s, network |Normal(10 ms, 2 ms)| per hop, \(trials) trials per cell, seed \(seed), "
                  + "first retry = attempt \(firstRetryAttempt)")
            print("")
            let names = ["N"] + strategies.map(\.rawValue)
            print("Calls (writes to the row, mean per trial)")
            print(table(names, rows: clients.map { n in
                ["\(n)"] + strategies.map { s in
                    let r = rows.first { $0.clients == n && $0.strategy == s }!
                    return String(format: "%.0f", r.meanCalls)
                }
            }))
            print("")
            print("Completion time (ms until the last client succeeded, mean per trial)")
            print(table(names, rows: clients.map { n in
                ["\(n)"] + strategies.map { s in
                    let r = rows.first { $0.clients == n && $0.strategy == s }!
                    return String(format: "%.0f", r.meanCompletionMilliseconds)
                }
            }))

            let findings = BackoffExperiment.findings(rows, at: compareAt)
            print("")
            if findings.isEmpty {
                print("(The published findings are checked at N=\(compareAt): add it to --clients.)")
                return
            }
            print("The post's findings at N=\(compareAt) (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/)")
            for f in findings {
                print("\(f.reproduced ? "✓ reproduced" : "✗ differs   ")  \(f.published)")
                print("               ours: \(f.ours)")
            }
        }

        private func table(_ header: [String], rows: [[String]]) -> String {
            let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { i, c in String(repeating: " ", count: widths[i] - c.count) + c }
                    .joined(separator: "  ")
            }
            return ([line(header)] + rows.map(line)).joined(separator: "\n")
        }
    }
}
