import FleetSim
import Foundation
import NIOCore
import NIOPosix

// TimerBench: the live runner's timers, a per-loop timer wheel against NIO scheduled tasks, at the
// live runner's size (15,000 devices on one event loop).
//
//   TimerBench [--devices 15000] [--heartbeat-ms 1000] [--seconds 20] [wheel|cancel|pile ...]
//
// Each device re-arms its one timer the way a device machine does on every heartbeat: the
// heartbeat fires, the ack deadline is armed, the ack arrives and supersedes it with the next
// heartbeat (here at once, so that only timer costs are measured). Per heartbeat: two arms, one
// fire, one superseded timer.
// - wheel: `TimerWheel` advanced by one repeating 5 ms task (what `LoopDriver` does); a
//   superseded entry is dropped when its slot comes up.
// - cancel: one `scheduleTask` per arm, the superseded task cancelled.
// - pile: one `scheduleTask` per arm, the superseded task left to fire as a no-op (token check).
// Prints client CPU per heartbeat (getrusage, user + system) and memory per device
// (peak RSS minus RSS before arming, divided by devices).

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    args.removeSubrange(i...(i + 1))
    return v
}
let devices = option("--devices", 15_000)
let heartbeat = Int64(option("--heartbeat-ms", 1_000)) * 1_000_000
let seconds = option("--seconds", 20)
let modes = args.isEmpty ? ["wheel", "cancel", "pile"] : args

func rssKiB(_ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field) {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

/// State of one loop's devices, touched only on that loop.
final class Devices: @unchecked Sendable {  // used on its one event loop only
    var token: [UInt32]
    var tasks: [Scheduled<Void>?]
    var beats = 0
    var wheel = TimerWheel(tick: 5_000_000)
    var due: [TimerWheel.Entry] = []
    let start = NIODeadline.now()
    init(_ n: Int) {
        token = Array(repeating: 0, count: n)
        tasks = Array(repeating: nil, count: n)
        due.reserveCapacity(1024)
    }
    var now: Int64 { (NIODeadline.now() - start).nanoseconds }
}

func run(_ mode: String, loop: EventLoop) throws {
    let d = try loop.submit { Devices(devices) }.wait()
    let rssBefore = rssKiB("VmRSS")
    let cpuBefore = cpuSeconds()
    let wallStart = Date()

    func beat(_ i: Int) {
        // The heartbeat fired: count it, arm the ack deadline, then the ack supersedes it.
        d.beats += 1
        d.token[i] &+= 1
        switch mode {
        case "wheel":
            let now = d.now
            d.wheel.arm(device: Int32(i), token: d.token[i], kind: 1, at: now + heartbeat / 2)   // ack deadline
            d.token[i] &+= 1
            d.wheel.arm(device: Int32(i), token: d.token[i], kind: 0, at: now + heartbeat)       // next heartbeat
        default:
            let t = d.token[i]
            let ack = loop.scheduleTask(in: .nanoseconds(heartbeat / 2)) { if d.token[i] == t { /* ack timeout */ } }
            if mode == "cancel" { ack.cancel() }
            d.token[i] &+= 1
            let next = d.token[i]
            d.tasks[i] = loop.scheduleTask(in: .nanoseconds(heartbeat)) { if d.token[i] == next { beat(i) } }
        }
    }

    try loop.submit {
        // Spread the first heartbeats over one interval, as warm devices are.
        for i in 0..<devices {
            let at = heartbeat * Int64(i) / Int64(devices)
            d.token[i] &+= 1
            switch mode {
            case "wheel": d.wheel.arm(device: Int32(i), token: d.token[i], kind: 0, at: at)
            default:
                let t = d.token[i]
                d.tasks[i] = loop.scheduleTask(in: .nanoseconds(at)) { if d.token[i] == t { beat(i) } }
            }
        }
        if mode == "wheel" {
            loop.scheduleRepeatedTask(initialDelay: .milliseconds(5), delay: .milliseconds(5)) { _ in
                d.due.removeAll(keepingCapacity: true)
                d.wheel.collect(dueBy: d.now, into: &d.due)
                for e in d.due where e.token == d.token[Int(e.device)] && e.kind == 0 { beat(Int(e.device)) }
            }
        }
    }.wait()
    var peak = 0
    for _ in 0..<(seconds * 10) {
        Thread.sleep(forTimeInterval: 0.1)
        peak = max(peak, rssKiB("VmRSS"))
    }
    let beats = try loop.submit { d.beats }.wait()
    let cpu = cpuSeconds() - cpuBefore
    let wall = Date().timeIntervalSince(wallStart)
    print(String(format: "%-6@ %8d heartbeats in %.1f s: %.2f µs CPU per heartbeat, %.0f B per device (peak RSS − before)",
                 mode as NSString, beats, wall, cpu / Double(beats) * 1e6, Double(peak - rssBefore) * 1024 / Double(devices)))
}

for mode in modes {
    // A fresh loop per mode, so that one mode's leftovers do not run during the next.
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    try run(mode, loop: group.next())
    try group.syncShutdownGracefully()
}
