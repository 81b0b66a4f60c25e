import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Testing
@testable import WSClient

/// An Autobahn|Testsuite-style "fuzzing server" harness. Each case plays what the Autobahn case
/// of the same number sends to a client (groups 1–7, 9, 12–13, trimmed in size for a debug build)
/// and checks the client's reaction the way Autobahn does: echoed messages, pongs, and the close
/// code the client sends. The client under test echoes every message, like Autobahn's test client.
struct ConformanceCase: Sendable {
    enum Close: Sendable {
        /// After the expected messages the server closes with 1000; the client must answer 1000.
        case serverNormal
        /// The client must fail the connection with this code.
        case clientFails(UInt16)
        /// The server's script closed with a code; the client must echo this code (nil = empty).
        case clientEchoes(UInt16?)
    }

    var id: String
    var group: String { String(id.split(separator: ".").first!) }
    var play: @Sendable (ServerConnection) -> Void
    /// Messages the client must echo back (opcode 1 = text, 2 = binary).
    var echoed: [(UInt8, [UInt8])] = []
    /// Pong payloads the server must receive (in order), nil = don't check.
    var pongs: [[UInt8]]? = nil
    var close: Close = .serverNormal
    var compression: WSCompression? = nil
    var serverClientWindowBits: Int? = nil
}

/// Plays a sequence of steps with optional delays on the server's event loop.
func schedule(_ s: ServerConnection, _ steps: [(delayMs: Int64, action: @Sendable () -> Void)]) {
    var total: Int64 = 0
    for step in steps {
        total += step.delayMs
        if total == 0 {
            step.action()
        } else {
            let action = step.action
            s.context.eventLoop.scheduleTask(in: .milliseconds(total)) { action() }
        }
    }
}

/// Writes `bytes` in chunks of `size`, each flushed, `delayMs` apart.
func chopped(_ s: ServerConnection, _ bytes: [UInt8], size: Int, delayMs: Int64 = 0) {
    var steps: [(Int64, @Sendable () -> Void)] = []
    var i = 0
    while i < bytes.count {
        let chunk = Array(bytes[i..<min(bytes.count, i + size)])
        steps.append((delayMs, { s.sendRaw(chunk) }))
        i += size
    }
    schedule(s, steps)
}

enum Cases {
    static let text: UInt8 = 0x1, binary: UInt8 = 0x2, cont: UInt8 = 0x0, close: UInt8 = 0x8, ping: UInt8 = 0x9, pong: UInt8 = 0xA

    static func bytes(_ n: Int, _ seed: UInt8 = 0x2A) -> [UInt8] { [UInt8](repeating: seed, count: n) }
    static func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }
    /// Pseudo-random bytes (xorshift; deterministic per length).
    static func randomBytes(_ n: Int) -> [UInt8] {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
        return (0..<n).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }
    static func corpus(_ n: Int) -> [UInt8] {
        let words = Array("Hello fleet, this is device 42 reporting a heartbeat. κόσμε ✓ ".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(n)
        while out.count < n { out += words }
        // Cut on a UTF-8 boundary.
        var cut = n
        while cut > 0 && cut < out.count && out[cut] & 0xC0 == 0x80 { cut -= 1 }
        return Array(out.prefix(cut))
    }

    static var all: [ConformanceCase] {
        group1 + group2 + group3 + group4 + group5 + group6 + group7 + group9 + group12 + group13
    }

    // 1: framing — text and binary messages of boundary lengths.
    static var group1: [ConformanceCase] {
        var cases: [ConformanceCase] = []
        for (sub, op) in [(1, text), (2, binary)] {
            for (i, n) in [0, 125, 126, 127, 128, 65535, 65536].enumerated() {
                let p = op == text ? bytes(n) : bytes(n, 0xFE)
                cases.append(.init(id: "1.\(sub).\(i + 1)", play: { $0.send(op, p) }, echoed: [(op, p)]))
            }
            let p = op == text ? bytes(65536) : bytes(65536, 0xFE)
            cases.append(.init(id: "1.\(sub).8", play: { chopped($0, serverFrame(op, p), size: 997) }, echoed: [(op, p)]))
        }
        return cases
    }

    // 2: pings and pongs.
    static var group2: [ConformanceCase] {
        let hello = utf8("Hello, world!")
        let bin: [UInt8] = [0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF]
        let p125 = bytes(125, 0xFE)
        return [
            .init(id: "2.1", play: { $0.send(ping, []) }, pongs: [[]]),
            .init(id: "2.2", play: { $0.send(ping, hello) }, pongs: [hello]),
            .init(id: "2.3", play: { $0.send(ping, bin) }, pongs: [bin]),
            .init(id: "2.4", play: { $0.send(ping, p125) }, pongs: [p125]),
            .init(id: "2.5", play: { $0.send(ping, bytes(126, 0xFE)) }, close: .clientFails(1002)),
            .init(id: "2.6", play: { chopped($0, serverFrame(ping, p125), size: 1, delayMs: 1) }, pongs: [p125]),
            .init(id: "2.7", play: { $0.send(pong, []) }, pongs: []),
            .init(id: "2.8", play: { $0.send(pong, utf8("unsolicited pong payload")) }, pongs: []),
            .init(id: "2.9", play: { s in s.send(pong, utf8("unsolicited pong payload")); s.send(ping, utf8("ping payload")) },
                  pongs: [utf8("ping payload")]),
            .init(id: "2.10", play: { s in for i in 0..<10 { s.send(ping, utf8("payload-\(i)")) } },
                  pongs: (0..<10).map { utf8("payload-\($0)") }),
            .init(id: "2.11", play: { s in
                schedule(s, (0..<10).map { i in (Int64(1), { chopped(s, serverFrame(ping, utf8("payload-\(i)")), size: 1) }) })
            }, pongs: (0..<10).map { utf8("payload-\($0)") }),
        ]
    }

    // 3: reserved bits.
    static var group3: [ConformanceCase] {
        let hello = utf8("Hello, world!")
        return [
            .init(id: "3.1", play: { $0.send(text, hello, rsv: 1) }, close: .clientFails(1002)),
            .init(id: "3.2", play: { s in s.send(text, hello); s.send(text, hello, rsv: 2); s.send(ping, []) },
                  echoed: [(text, hello)], close: .clientFails(1002)),
            .init(id: "3.3", play: { s in
                schedule(s, [(0, { s.send(text, hello) }), (10, { s.send(text, hello, rsv: 3) }), (10, { s.send(ping, []) })])
            }, echoed: [(text, hello)], close: .clientFails(1002)),
            .init(id: "3.4", play: { s in s.send(text, hello); s.send(text, hello, rsv: 4) },
                  echoed: [(text, hello)], close: .clientFails(1002)),
            .init(id: "3.5", play: { $0.send(binary, [0xFF, 0xFE, 0xFD], rsv: 5) }, close: .clientFails(1002)),
            .init(id: "3.6", play: { $0.send(ping, hello, rsv: 6) }, close: .clientFails(1002)),
            .init(id: "3.7", play: { $0.send(close, closePayload(1000), rsv: 7) }, close: .clientFails(1002)),
        ]
    }

    // 4: reserved opcodes.
    static var group4: [ConformanceCase] {
        var cases: [ConformanceCase] = []
        let hello = utf8("Hello, world!")
        for (i, op) in [UInt8(3), 4, 5, 6, 7].enumerated() {
            cases.append(.init(id: "4.1.\(i + 1)", play: { s in s.send(text, hello); s.send(op, i == 0 ? [] : hello); s.send(ping, []) },
                               echoed: [(text, hello)], close: .clientFails(1002)))
        }
        for (i, op) in [UInt8(11), 12, 13, 14, 15].enumerated() {
            cases.append(.init(id: "4.2.\(i + 1)", play: { s in s.send(text, hello); s.send(op, i == 0 ? [] : hello); s.send(ping, []) },
                               echoed: [(text, hello)], close: .clientFails(1002)))
        }
        return cases
    }

    // 5: fragmentation.
    static var group5: [ConformanceCase] {
        let f1 = utf8("fragment1"), f2 = utf8("fragment2"), f3 = utf8("fragment3"), f4 = utf8("fragment4"), f5 = utf8("fragment5")
        let hello = utf8("Hello, world!")
        @Sendable func frames(_ fs: [(UInt8, [UInt8], Bool)]) -> [UInt8] { fs.flatMap { serverFrame($0.0, $0.1, fin: $0.2) } }
        let textInTwo = frames([(text, f1, false), (cont, f2, true)])
        let withPing = frames([(text, f1, false), (ping, utf8("pongme!"), true), (cont, f2, true)])
        return [
            .init(id: "5.1", play: { $0.sendRaw(frames([(ping, f1, false), (cont, f2, true)])) }, close: .clientFails(1002)),
            .init(id: "5.2", play: { $0.sendRaw(frames([(pong, f1, false), (cont, f2, true)])) }, close: .clientFails(1002)),
            .init(id: "5.3", play: { $0.sendRaw(textInTwo) }, echoed: [(text, f1 + f2)]),
            .init(id: "5.4", play: { chopped($0, textInTwo, size: textInTwo.count / 2, delayMs: 5) }, echoed: [(text, f1 + f2)]),
            .init(id: "5.5", play: { chopped($0, textInTwo, size: 1, delayMs: 1) }, echoed: [(text, f1 + f2)]),
            .init(id: "5.6", play: { $0.sendRaw(withPing) }, echoed: [(text, f1 + f2)], pongs: [utf8("pongme!")]),
            .init(id: "5.7", play: { chopped($0, withPing, size: 11, delayMs: 2) }, echoed: [(text, f1 + f2)], pongs: [utf8("pongme!")]),
            .init(id: "5.8", play: { chopped($0, withPing, size: 1, delayMs: 1) }, echoed: [(text, f1 + f2)], pongs: [utf8("pongme!")]),
            .init(id: "5.9", play: { s in s.sendRaw(frames([(cont, f1, true), (text, f2, true)])) }, close: .clientFails(1002)),
            .init(id: "5.10", play: { s in chopped(s, frames([(cont, f1, true), (text, f2, true)]), size: 1) }, close: .clientFails(1002)),
            .init(id: "5.11", play: { s in chopped(s, frames([(cont, f1, true), (text, f2, true)]), size: 1, delayMs: 1) }, close: .clientFails(1002)),
            .init(id: "5.12", play: { s in s.sendRaw(frames([(cont, f1, false), (text, f2, true)])) }, close: .clientFails(1002)),
            .init(id: "5.13", play: { s in chopped(s, frames([(cont, f1, false), (text, f2, true)]), size: 1) }, close: .clientFails(1002)),
            .init(id: "5.14", play: { s in chopped(s, frames([(cont, f1, false), (text, f2, true)]), size: 1, delayMs: 1) }, close: .clientFails(1002)),
            .init(id: "5.15", play: { s in s.sendRaw(frames([(text, f1, false), (cont, f2, true), (cont, f3, false), (text, f4, true)])) },
                  echoed: [(text, f1 + f2)], close: .clientFails(1002)),
            .init(id: "5.16", play: { s in
                for _ in 0..<2 { s.sendRaw(frames([(cont, f1, false), (text, f2, true), (cont, f3, true)])) }
            }, close: .clientFails(1002)),
            .init(id: "5.17", play: { s in
                for _ in 0..<2 { s.sendRaw(frames([(cont, f1, true), (text, f2, true), (cont, f3, true)])) }
            }, close: .clientFails(1002)),
            .init(id: "5.18", play: { s in s.sendRaw(frames([(text, f1, false), (text, f2, true)])) }, close: .clientFails(1002)),
            .init(id: "5.19", play: { s in
                schedule(s, [
                    (0, { s.send(text, f1, fin: false) }), (0, { s.send(cont, f2, fin: false) }),
                    (0, { s.send(ping, utf8("pongme 1!")) }), (100, { s.send(cont, f3, fin: false) }),
                    (0, { s.send(cont, f4, fin: false) }), (0, { s.send(ping, utf8("pongme 2!")) }),
                    (100, { s.send(cont, f5, fin: true) }),
                ])
            }, echoed: [(text, f1 + f2 + f3 + f4 + f5)], pongs: [utf8("pongme 1!"), utf8("pongme 2!")]),
            .init(id: "5.20", play: { s in
                let all = frames([(text, f1, false), (cont, f2, false), (ping, utf8("pongme 1!"), true), (cont, f3, false),
                                  (cont, f4, false), (ping, utf8("pongme 2!"), true), (cont, f5, true)])
                chopped(s, all, size: 7, delayMs: 3)
            }, echoed: [(text, f1 + f2 + f3 + f4 + f5)], pongs: [utf8("pongme 1!"), utf8("pongme 2!")]),
            .init(id: "5.21", play: { s in s.sendRaw(frames([(binary, hello, false), (cont, [], false), (cont, hello, true)])) },
                  echoed: [(binary, hello + hello)]),
        ]
    }

    // 6: UTF-8 handling: valid texts echoed (whole, fragmented per octet, chopped), invalid ones
    // failed with 1007 (whole, fragmented, and after a valid prefix — fail-fast).
    static var group6: [ConformanceCase] {
        let valid: [[UInt8]] = [
            [], utf8("Hello-µ@ßöäüàá-UTF-8!!"), utf8("κόσμε"), [0x00], [0x7F], [0xC2, 0x80], [0xDF, 0xBF],
            [0xE0, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
            [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBD], utf8("\u{FEFF}bom"), utf8("𝄞 music"),
        ]
        let invalid: [[UInt8]] = [
            [0x80], [0xBF], [0x80, 0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xE0, 0x9F, 0xBF],
            [0xF0, 0x80, 0x80, 0xAF], [0xF0, 0x8F, 0xBF, 0xBF], [0xED, 0xA0, 0x80], [0xED, 0xAD, 0xBF],
            [0xED, 0xBF, 0xBF], [0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFC, 0x84, 0x80, 0x80, 0x80, 0x80],
            [0xFE], [0xFF], [0xFE, 0xFE, 0xFF, 0xFF], [0xC2], [0xE0, 0xA0], [0xF0, 0x90, 0x80], [0xC2, 0x41],
            [0xE1, 0x80, 0x41], [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],
        ]
        var cases: [ConformanceCase] = []
        var n = 0
        for v in valid {
            n += 1; cases.append(.init(id: "6.1.\(n)", play: { $0.send(text, v) }, echoed: [(text, v)]))
            n += 1; cases.append(.init(id: "6.1.\(n)", play: { s in
                if v.isEmpty { s.send(text, []); return }
                for (i, b) in v.enumerated() { s.send(i == 0 ? text : cont, [b], fin: i == v.count - 1) }
            }, echoed: [(text, v)]))
            n += 1; cases.append(.init(id: "6.1.\(n)", play: { chopped($0, serverFrame(text, v), size: 1) }, echoed: [(text, v)]))
        }
        n = 0
        for bad in invalid {
            n += 1; cases.append(.init(id: "6.2.\(n)", play: { $0.send(text, bad) }, close: .clientFails(1007)))
            n += 1; cases.append(.init(id: "6.2.\(n)", play: { s in
                for (i, b) in bad.enumerated() { s.send(i == 0 ? text : cont, [b], fin: i == bad.count - 1) }
            }, close: .clientFails(1007)))
            // Fail fast: a valid prefix, the bad bytes, then a fragment that never comes (unless
            // the bytes are merely truncated, which only the end of the message reveals).
            var probe = UTF8Validator()
            let failsEarly = !probe.feed(bad)
            n += 1; cases.append(.init(id: "6.2.\(n)", play: { s in
                s.send(text, utf8("κόσμε"), fin: false)
                s.send(cont, bad, fin: false)
                if !failsEarly { s.send(cont, [], fin: true) }
            }, close: .clientFails(1007)))
        }
        return cases
    }

    // 7: close handling.
    static var group7: [ConformanceCase] {
        let hello = utf8("Hello World!")
        var cases: [ConformanceCase] = [
            .init(id: "7.1.1", play: { $0.send(text, hello) }, echoed: [(text, hello)]),
            .init(id: "7.1.2", play: { s in s.send(close, closePayload(1000)); s.send(close, closePayload(1000)) }, close: .clientEchoes(1000)),
            .init(id: "7.1.3", play: { s in s.send(close, closePayload(1000)); s.send(ping, hello) }, pongs: [], close: .clientEchoes(1000)),
            .init(id: "7.1.4", play: { s in s.send(close, closePayload(1000)); s.send(text, hello) }, close: .clientEchoes(1000)),
            .init(id: "7.1.5", play: { s in s.send(text, utf8("fragment1"), fin: false); s.send(close, closePayload(1000)); s.send(cont, utf8("fragment2")) },
                  close: .clientEchoes(1000)),
            .init(id: "7.1.6", play: { s in s.send(text, bytes(256 * 1024)); s.send(close, closePayload(1000)); s.send(ping, hello) },
                  echoed: [(text, bytes(256 * 1024))], close: .clientEchoes(1000)),
            .init(id: "7.3.1", play: { $0.send(close, []) }, close: .clientEchoes(nil)),
            .init(id: "7.3.2", play: { $0.send(close, [0x03]) }, close: .clientFails(1002)),
            .init(id: "7.3.3", play: { $0.send(close, closePayload(1000)) }, close: .clientEchoes(1000)),
            .init(id: "7.3.4", play: { $0.send(close, closePayload(1000, "Hello World!")) }, close: .clientEchoes(1000)),
            .init(id: "7.3.5", play: { $0.send(close, closePayload(1000, String(repeating: "*", count: 123))) }, close: .clientEchoes(1000)),
            .init(id: "7.3.6", play: { $0.send(close, closePayload(1000, String(repeating: "*", count: 124))) }, close: .clientFails(1002)),
            .init(id: "7.5.1", play: { $0.send(close, closePayload(1000) + [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64]) },
                  close: .clientFails(1007)),
        ]
        for (i, code) in [UInt16(1000), 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].enumerated() {
            cases.append(.init(id: "7.7.\(i + 1)", play: { $0.send(close, closePayload(code)) }, close: .clientEchoes(code)))
        }
        for (i, code) in [UInt16(0), 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535].enumerated() {
            cases.append(.init(id: "7.9.\(i + 1)", play: { $0.send(close, closePayload(code)) }, close: .clientFails(1002)))
        }
        return cases
    }

    // 9: limits and performance (sizes trimmed to at most 1 MiB, the default message limit, and
    // fragmented/chopped cases to 256 KiB / 64 KiB so the debug-build test stays fast).
    static var group9: [ConformanceCase] {
        var cases: [ConformanceCase] = []
        for (sub, op) in [(1, text), (2, binary)] {
            for (i, n) in [64 * 1024, 256 * 1024, 1024 * 1024].enumerated() {
                let p = op == text ? corpus(n) : randomBytes(n)
                cases.append(.init(id: "9.\(sub).\(i + 1)", play: { $0.send(op, p) }, echoed: [(op, p)]))
            }
        }
        for (sub, op) in [(3, text), (4, binary)] {
            for (i, frag) in [64, 256, 4096, 65536, 1 << 18].enumerated() {
                let p = op == text ? bytes(1 << 18) : bytes(1 << 18, 0xFE)
                cases.append(.init(id: "9.\(sub).\(i + 1)", play: { s in
                    var out: [UInt8] = []
                    var at = 0
                    while at < p.count {
                        let end = min(p.count, at + frag)
                        out += serverFrame(at == 0 ? op : cont, Array(p[at..<end]), fin: end == p.count)
                        at = end
                    }
                    s.sendRaw(out)
                }, echoed: [(op, p)]))
            }
        }
        for (sub, op) in [(5, text), (6, binary)] {
            for (i, chunk) in [64, 1024, 65536].enumerated() {
                let p = op == text ? bytes(64 * 1024) : bytes(64 * 1024, 0xFE)
                cases.append(.init(id: "9.\(sub).\(i + 1)", play: { chopped($0, serverFrame(op, p), size: chunk) }, echoed: [(op, p)]))
            }
        }
        for (sub, op) in [(7, text), (8, binary)] {
            for (i, n) in [0, 16, 64, 256].enumerated() {
                let msgs = (0..<250).map { k in op == text ? corpus(n) : bytes(n, UInt8(k & 0xFF)) }
                cases.append(.init(id: "9.\(sub).\(i + 1)", play: { s in
                    for m in msgs { s.send(op, m, flush: false) }
                    s.context.flush()
                }, echoed: msgs.map { (op, $0) }))
            }
        }
        cases.append(.init(id: "9.9.1", play: { $0.send(binary, bytes((1 << 20) + 1)) }, close: .clientFails(1009)))
        cases.append(.init(id: "9.9.2", play: { s in s.send(text, bytes(1 << 19), fin: false); s.send(cont, bytes((1 << 19) + 1)) },
                           close: .clientFails(1009)))
        return cases
    }

    // 12: compressed messages of growing size, echoed compressed.
    static var group12: [ConformanceCase] {
        var cases: [ConformanceCase] = []
        for (sub, op) in [(1, text), (2, binary)] {
            for (i, n) in [16, 64, 256, 1024, 4096, 8192, 16384, 32768].enumerated() {
                let msgs = (0..<10).map { k in op == text ? corpus(n + k) : (k % 2 == 0 ? randomBytes(n) : bytes(n, UInt8(k))) }
                cases.append(.init(id: "12.\(sub).\(i + 1)", play: { s in for m in msgs { s.sendCompressed(op, m) } },
                                   echoed: msgs.map { (op, $0) }, compression: WSCompression()))
            }
        }
        // A corrupt compressed payload must fail the connection.
        cases.append(.init(id: "12.3.1", play: { $0.send(text, [0xFF, 0xFF, 0xFF, 0xFF], rsv: 4) }, close: .clientFails(1002), compression: WSCompression()))
        // RSV1 on a continuation frame is a protocol error.
        cases.append(.init(id: "12.3.2", play: { s in s.send(text, [0x00], fin: false, rsv: 4); s.send(cont, [0x00], rsv: 4) },
                           close: .clientFails(1002), compression: WSCompression()))
        // A compressed message that inflates past the limit: 1009.
        cases.append(.init(id: "12.3.3", play: { $0.sendCompressed(binary, bytes((1 << 20) + 100)) }, close: .clientFails(1009), compression: WSCompression()))
        return cases
    }

    // 13: compression with different negotiated parameters (context takeover, window bits).
    static var group13: [ConformanceCase] {
        var offers: [(String, WSCompression, Int?)] = []
        var takeover = WSCompression()
        takeover.clientNoContextTakeover = false
        takeover.serverNoContextTakeover = false
        offers.append(("context takeover", takeover, nil))
        offers.append(("no context takeover", WSCompression(), nil))
        var small = takeover
        small.serverMaxWindowBits = 9
        offers.append(("server window 9", small, nil))
        var client9 = takeover
        client9.clientMaxWindowBits = 15
        offers.append(("client window 9", client9, 9))
        var both = WSCompression()
        both.serverMaxWindowBits = 10
        offers.append(("no takeover, server window 10", both, 10))
        var cases: [ConformanceCase] = []
        for (k, (_, offer, clientBits)) in offers.enumerated() {
            for (i, n) in [16, 256, 4096, 32768].enumerated() {
                let msgs = (0..<10).map { j in corpus(n + j) }
                var c = ConformanceCase(id: "13.\(k + 1).\(i + 1)", play: { s in for m in msgs { s.sendCompressed(text, m) } },
                                        echoed: msgs.map { (text, $0) }, compression: offer)
                c.serverClientWindowBits = clientBits
                cases.append(c)
            }
        }
        return cases
    }
}

/// One client per compression offer (building a client loads the TLS trust roots: do it rarely).
let harnessClients = NIOLockedValueBox<[WSCompression?: WSClient]>([:])
func harnessClient(_ compression: WSCompression?) throws -> WSClient {
    try harnessClients.withLockedValue { clients in
        if let c = clients[compression] { return c }
        // Generous deadlines: on a busy 2-core CI machine a debug build can stall for seconds.
        let c = try makeClient {
            $0.compression = compression
            $0.closeTimeout = .seconds(5)
            $0.upgradeTimeout = .seconds(15)
            $0.connectTimeout = .seconds(15)
        }
        clients[compression] = c
        return c
    }
}

/// Runs one case and returns nil when it passed, else why it failed.
func runCase(_ c: ConformanceCase) async -> String? {
    var script = ServerScript()
    script.echo = false
    script.acceptDeflate = c.compression != nil
    script.clientWindowBits = c.serverClientWindowBits
    let play = c.play
    script.onOpen = { s in s.context.eventLoop.execute { play(s) } }
    let server: TestServer
    do { server = try TestServer(script: script) } catch { return "server: \(error)" }
    defer { server.stop() }
    let client: WSClient
    do { client = try harnessClient(c.compression) } catch { return "client: \(error)" }
    let d = RecordingDelegate()
    d.onText = { conn, t in conn.send(text: t) }
    d.onBinary = { conn, b in conn.send(binary: b) }
    client.connect(to: server.endpoint(), delegate: d)
    let log = server.log

    switch c.close {
    case .serverNormal:
        // The server must hold the connection (its script is then queued) before it can close it:
        // a case that expects no echo is otherwise "done" before the upgrade on a loaded machine.
        let serverHasIt = { !server.connections.withLockedValue { $0.isEmpty } }
        await eventually(within: 20) {
            serverHasIt() && log.messages.count >= c.echoed.count
                && (c.pongs == nil || log.frames.filter { $0.opcode == .pong }.count >= c.pongs!.count) || d.cause != nil
        }
        try? await Task.sleep(nanoseconds: 20_000_000)  // let stray frames arrive
        guard d.cause == nil else { return "closed early: \(d.cause!)" }
        // Server starts the close handshake.
        await sendServerClose(server)
        let cause = await d.closed(within: 20)
        guard cause == .closed(code: 1000, reason: "") else { return "close: \(String(describing: cause))" }
        guard log.clientCloseCode == 1000 else { return "client close code \(String(describing: log.clientCloseCode))" }
    case .clientFails(let code):
        let cause = await d.closed(within: 20)
        guard case .protocolViolation = cause else { return "expected failure \(code), got \(String(describing: cause))" }
        guard log.clientCloseCode == code else { return "client close code \(String(describing: log.clientCloseCode)), expected \(code)" }
    case .clientEchoes(let code):
        let cause = await d.closed(within: 20)
        guard case .closed(let got, _) = cause, got == (code ?? 1005) else { return "expected closed(\(String(describing: code))), got \(String(describing: cause))" }
        guard log.clientCloseCode == (code ?? 1005) else { return "client close code \(String(describing: log.clientCloseCode))" }
    }
    let messages = log.messages
    guard messages.count == c.echoed.count else { return "echoed \(messages.count) messages, expected \(c.echoed.count)" }
    for (i, (op, bytes)) in c.echoed.enumerated() {
        let (gotOp, gotBytes) = messages[i]
        guard UInt8(webSocketOpcode: gotOp) == op, gotBytes == bytes else { return "message \(i) differs (\(gotBytes.count) bytes vs \(bytes.count))" }
    }
    if let pongs = c.pongs {
        let got = log.frames.filter { $0.opcode == .pong }.map(\.payload)
        guard got == pongs else { return "pongs \(got.count) vs expected \(pongs.count)" }
    }
    if c.compression != nil, !c.echoed.isEmpty {
        guard log.frames.filter({ $0.opcode == .text || $0.opcode == .binary }).allSatisfy({ $0.rsv1 }) else { return "echo not compressed" }
    }
    guard log.frames.allSatisfy({ $0.masked }) else { return "unmasked client frame" }
    return nil
}

/// Sends Close 1000 from every server-side connection (the harness server holds one).
func sendServerClose(_ server: TestServer) async {
    server.closeAllWith1000()
}

@Suite(.tags(.slow, .network)) struct ConformanceTests {
    @Test func autobahnStyleCaseGroupsPass() async throws {
        let cases = Cases.all
        let results = NIOLockedValueBox<[String: String?]>([:])
        // A few cases at a time: bounded sockets and time.
        try await withThrowingTaskGroup(of: Void.self) { group in
            var iterator = cases.makeIterator()
            for _ in 0..<6 {
                guard let c = iterator.next() else { break }
                group.addTask { let r = await runCase(c); results.withLockedValue { $0[c.id] = r } }
            }
            while try await group.next() != nil {
                if let c = iterator.next() {
                    group.addTask { let r = await runCase(c); results.withLockedValue { $0[c.id] = r } }
                }
            }
        }
        let all = results.withLockedValue { $0 }
        var table = "Autobahn-style conformance (client)\n group | cases | passed\n-------+-------+-------\n"
        var groups: [String] = []
        for c in cases where !groups.contains(c.group) { groups.append(c.group) }
        for g in groups {
            let ids = cases.filter { $0.group == g }.map(\.id)
            let passed = ids.filter { all[$0] == .some(nil) }.count
            func pad(_ s: String) -> String { String(repeating: " ", count: max(0, 5 - s.count)) + s }
            table += " \(pad(g)) | \(pad(String(ids.count))) | \(pad(String(passed)))\n"
        }
        let failures = cases.compactMap { c -> String? in
            guard let r = all[c.id], let reason = r else { return nil }
            return "\(c.id): \(reason)"
        }
        table += "total: \(cases.count) cases, \(cases.count - failures.count) passed"
        print(table)
        for f in failures { Issue.record(Comment(rawValue: f)) }
    }
}
