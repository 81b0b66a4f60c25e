import DeviceModel
import Foundation
import Logging
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs the scenario's `hooks:` for a live run against an external target: each timeline action
/// with a hook becomes an HTTP request or a shell command, run off the coordinator's thread, and
/// its outcome ("HTTP 200 in 0.2 s", "exit 1", "timed out after 30 s") is appended to the action's
/// milestone. Secrets (the bearer token) are read from the environment when the run starts and
/// appear nowhere else: not in milestones, logs or the report. A command's output is not kept.
final class HookRunner: @unchecked Sendable {  // `pending` is protected by `lock`; the rest is immutable
    struct Failure: Error, CustomStringConvertible { var description: String }

    private let hooks: [String: Scenario.Hook]
    private let tokens: [String: String]
    private let logger: Logger
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var pending = 0

    /// Reads every hook's token variable; throws naming the first one not set.
    init(hooks: [String: Scenario.Hook], environment: [String: String] = ProcessInfo.processInfo.environment,
         logger: Logger = Logger(label: "fleetsim.hooks")) throws {
        self.hooks = hooks
        self.logger = logger
        var tokens: [String: String] = [:]
        for (action, hook) in hooks.sorted(by: { $0.key < $1.key }) {
            if case .http(_, _, _, let variable?) = hook.call {
                guard let value = environment[variable], !value.isEmpty else {
                    throw Failure(description: "hooks.\(action).token_env: environment variable \(variable) is not set")
                }
                tokens[variable] = value
            }
        }
        self.tokens = tokens
    }

    func hook(for action: String) -> Scenario.Hook? { hooks[action] }

    /// Starts `action`'s hook with these values; `done` gets the outcome text, on another thread.
    func run(_ action: String, values: [String: String], done: @escaping @Sendable (String) -> Void) {
        guard let hook = hooks[action] else { return }
        lock.lock(); pending += 1; lock.unlock()
        group.enter()
        let started = Date()
        let finish: @Sendable (String) -> Void = { [self] outcome in
            let took = Date().timeIntervalSince(started)
            // The outcome names the status or exit code, never the token.
            logger.log(level: outcome.hasPrefix("hook failed") ? .warning : .info, "hook \(action): \(outcome)",
                       metadata: ["seconds": "\(String(format: "%.2f", took))"])
            done(outcome + String(format: " in %.1f s", took))
            lock.lock(); pending -= 1; lock.unlock()
            group.leave()
        }
        let timeout = Double(hook.timeout) / 1e9
        switch hook.call {
        case .http(let method, let url, let body, let variable):
            let filled = Scenario.Hook.fill(url, values) {
                $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? $0
            }
            guard let u = URL(string: filled) else { return finish("hook failed: bad URL") }
            var request = URLRequest(url: u, timeoutInterval: timeout)
            request.httpMethod = method
            if let body { request.httpBody = Data(Scenario.Hook.fill(body, values).utf8) }
            if let variable, let token = tokens[variable] { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            request.setValue("fleetsim", forHTTPHeaderField: "User-Agent")
            URLSession.shared.dataTask(with: request) { _, response, error in
                if let http = response as? HTTPURLResponse {
                    finish((200..<300).contains(http.statusCode) ? "hook: HTTP \(http.statusCode)" : "hook failed: HTTP \(http.statusCode)")
                } else if let error = error as? URLError, error.code == .timedOut {
                    finish("hook failed: no answer within \(Units.format(duration: hook.timeout))")
                } else {
                    finish("hook failed: \(error.map { HookRunner.describe($0) } ?? "no response")")
                }
            }.resume()
        case .shell(let command):
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", Scenario.Hook.fill(command, values, quote: HookRunner.shellQuoted)]
            var environment = ProcessInfo.processInfo.environment
            environment["FLEETSIM_ACTION"] = action
            for (k, v) in values { environment["FLEETSIM_" + k.uppercased()] = v }
            p.environment = environment
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            let exited = DispatchSemaphore(value: 0)
            p.terminationHandler = { _ in exited.signal() }
            do { try p.run() } catch { return finish("hook failed: cannot run /bin/sh: \(error.localizedDescription)") }
            Thread.detachNewThread {
                if exited.wait(timeout: .now() + timeout) == .timedOut {
                    kill(-p.processIdentifier, SIGTERM)
                    p.terminate()
                    if exited.wait(timeout: .now() + 2) == .timedOut { kill(p.processIdentifier, SIGKILL); exited.wait() }
                    finish("hook failed: still running after \(Units.format(duration: hook.timeout)), stopped")
                } else if p.terminationReason == .uncaughtSignal {
                    finish("hook failed: killed by signal \(p.terminationStatus)")
                } else {
                    finish(p.terminationStatus == 0 ? "hook: exit 0" : "hook failed: exit \(p.terminationStatus)")
                }
            }
        }
    }

    /// Waits for the hooks still running (each is bounded by its own timeout).
    func waitForAll() {
        group.wait()
    }

    var running: Int { lock.lock(); defer { lock.unlock() }; return pending }

    static func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    static func describe(_ error: Error) -> String {
        let text = (error as NSError).localizedDescription
        return text.isEmpty || text == "(null)" ? "\(error)" : text
    }
}
