import FleetSim
import Foundation

/// Where a command's progress goes: standard error, redrawn in place on a terminal, plain lines
/// otherwise; nothing when disabled (`-q`).
struct ProgressOutput {
    let enabled: Bool
    let isTTY = isatty(STDERR_FILENO) != 0

    /// A plain `write(2)`, errors ignored: after a hang-up (the terminal closed) the terminal answers
    /// EIO, which must not end a run that is about to write its report (FileHandle traps on it).
    func write(_ text: String) {
        guard enabled else { return }
        LocalShardLink.writeIgnoringErrors(STDERR_FILENO, text)
    }

    func note(_ text: String) { write(text + "\n") }
}

/// A simulation's progress: a self-rewriting line on a terminal, a line every 10% otherwise.
final class ProgressLine {
    private let out: ProgressOutput
    private let label: String
    private var lastDecile = -1
    private var lastDraw: UInt64 = 0
    private let started = DispatchTime.now().uptimeNanoseconds

    init(enabled: Bool, label: String) {
        out = ProgressOutput(enabled: enabled)
        self.label = label
    }

    func note(_ text: String) { out.note(text) }

    func update(_ fraction: Double, _ online: Double) {
        guard out.enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let elapsed = Double(now - started) / 1e9
        let text = String(format: "%3.0f%%  online %5.1f%%  %.1f s", fraction * 100, online * 100, elapsed)
        if out.isTTY {
            guard now - lastDraw > 100_000_000 || fraction >= 1 else { return }
            lastDraw = now
            out.write("\r\(label): \(text)\u{1B}[K")
        } else {
            let decile = Int(fraction * 10)
            guard decile != lastDecile, elapsed > 2 else { return }
            lastDecile = decile
            out.write("\(label): \(text)\n")
        }
    }

    func finish() {
        if out.isTTY { out.write("\r\u{1B}[K") }
    }
}
