import DeviceModel
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// `/admin`: runtime controls behind a bearer token, and their sharing across processes.
extension BackendCore {
    struct AdminResult {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "application/json"
        var after: (() -> Void)?
    }

    func stateJSON() -> String {
        let object: [String: Any] = [
            "blocked": blockList.current.map(\.text),
            "lookup": lookupPolicy.description,
            "admission": admissionLimits.description,
            "listening": isListening,
            "db_workers": database?.workers ?? configuration.databaseWorkers,
            "faults": faults.description.split(separator: "\n").map(String.init),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func authorized(_ header: String?) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        let expected = Array(adminToken.utf8)
        guard given.count == expected.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(given, expected) { diff |= a ^ b }
        return diff == 0
    }

    /// The admin API. Every route needs `Authorization: Bearer TOKEN`.
    ///
    ///     GET  /admin                 state (block list, lookup, admission, listening)
    ///     POST /admin/block           body: a firmware range, e.g. >=3.8.0-b3
    ///     POST /admin/unblock         body: a firmware range, or "all"
    ///     POST /admin/lookup          body: e.g. indexed, or scan:>=3.8.0-b3
    ///     POST /admin/admission       body: off, or rate=200 burst=400 max-pending=100 retry-after=30s
    ///     POST /admin/restart         drop every connection, reopen the listener after the restart delay,
    ///                                 or after the body's duration (`down=30s`, or just `30s`)
    ///     POST /admin/db-workers      body: N, the number of database workers from now on (this process)
    ///     POST /admin/fault           body: http-errors fraction=0.3 [status=503] [retry-after=30s],
    ///                                 latency add=2s, db-errors fraction=0.5, KIND off, or off (see `FaultInjection`)
    func admin(method: HTTPMethod, path: String, authorization: String?, body: String) -> AdminResult {
        let result = adminRoute(method: method, path: path, authorization: authorization, body: body)
        if result.status == .ok, method == .POST {
            switch path {
            case "/admin/block", "/admin/unblock": publishControls([.block])
            case "/admin/lookup": publishControls([.lookup])
            case "/admin/admission": publishControls([.admission])
            case "/admin/fault": publishControls([.faults])
            default: break
            }
        }
        return result
    }

    /// Writes the controls for the other processes on this registry file (when they share them).
    func publishControls(_ names: [SharedControls.Name]) {
        guard configuration.sharesControls, let database else { return }
        let values = SharedControls.encode(self).filter { names.contains($0.key) }
        database.submit { connection in
            do { try SharedControls.publish(values, connection: connection) } catch {
                self.metrics.reject(.databaseError)
                self.logger.error("cannot publish controls to the other processes", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Reads and applies the other processes' control changes (on a database worker).
    func pollControls(_ connection: RegistryConnection) {
        let since = controlsVersion.withLockedValue { $0 }
        let values: [(SharedControls.Name, String)], version: Int64
        do { (values, version) = try SharedControls.changes(since: since, connection: connection) } catch {
            logger.warning("cannot read the other processes' controls; trying again at the next poll", metadata: ["error": "\(error)"])
            return
        }
        for (name, value) in values { SharedControls.apply(name, value, to: self) }
        controlsVersion.withLockedValue { $0 = max($0, version) }
    }

    private func adminRoute(method: HTTPMethod, path: String, authorization: String?, body: String) -> AdminResult {
        guard authorized(authorization) else {
            return AdminResult(status: .unauthorized, body: "missing or wrong bearer token\n", contentType: "text/plain; charset=utf-8")
        }
        func bad(_ message: String) -> AdminResult {
            AdminResult(status: .badRequest, body: message + "\n", contentType: "text/plain; charset=utf-8")
        }
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        switch (method, path) {
        case (.GET, "/admin"), (.GET, "/admin/"):
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/block"):
            do { blockList.block(try FirmwareRange(parsing: text)) } catch { return bad("block: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/unblock"):
            if text == "all" { blockList.clear(); return AdminResult(status: .ok, body: stateJSON()) }
            do {
                guard blockList.unblock(try FirmwareRange(parsing: text)) else { return bad("unblock: \"\(text)\" is not on the block list") }
            } catch { return bad("unblock: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/lookup"):
            do { lookupPolicy = try LookupPolicy(parsing: text) } catch { return bad("lookup: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/admission"):
            do { admissionLimits = try AdmissionPolicy(parsing: text) } catch { return bad("admission: \(error)") }
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/fault"):
            var next = faults
            do { try next.apply(parsing: text) } catch { return bad("fault: \(error)") }
            faults = next
            return AdminResult(status: .ok, body: stateJSON())
        case (.POST, "/admin/restart"):
            var down: TimeAmount?
            if !text.isEmpty {
                let value = text.hasPrefix("down=") ? String(text.dropFirst(5)) : text
                do { down = try OptionParsing.duration(value, flag: "down") } catch { return bad("restart: \(error)") }
            }
            let handler = restartHandler
            let seconds = Double((down ?? configuration.restartDelay).nanoseconds) / 1e9
            return AdminResult(status: .accepted, body: "{\"restarting\":true,\"down_s\":\(seconds)}\n", after: { handler?(down) })
        case (.POST, "/admin/db-workers"):
            let count: Int
            do { count = try OptionParsing.count(text, flag: "db-workers") } catch { return bad("db-workers: \(error)") }
            guard count <= 1024 else { return bad("db-workers: expected 1…1024, got \(count)") }
            guard let database else { return bad("db-workers: the backend is not running") }
            do { try database.resize(to: count) } catch {
                return AdminResult(status: .internalServerError, body: "db-workers: cannot open a registry connection: \(error)\n",
                                   contentType: "text/plain; charset=utf-8")
            }
            return AdminResult(status: .ok, body: stateJSON())
        case (_, "/admin"), (_, "/admin/block"), (_, "/admin/unblock"), (_, "/admin/lookup"), (_, "/admin/admission"), (_, "/admin/restart"),
             (_, "/admin/db-workers"), (_, "/admin/fault"):
            return AdminResult(status: .methodNotAllowed, body: "method not allowed\n", contentType: "text/plain; charset=utf-8")
        default:
            return AdminResult(status: .notFound, body: "unknown admin route; see GET /admin\n", contentType: "text/plain; charset=utf-8")
        }
    }
}
