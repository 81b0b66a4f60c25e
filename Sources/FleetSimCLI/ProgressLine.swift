import Foundation

/// Progress on standard error: a self-rewriting line on a terminal, a line every 10% otherwise.
final class ProgressLine {
    private let enabled: Bool
    private let tty: Bool
    private let label: String
    private var lastDecile = -1
    private var lastDraw: UInt64 = 0
    private let started = DispatchTime.now().uptimeNanoseconds

    init(enabled: Bool, label: String) {
        self.enabled = enabled
        self.tty = isatty(STDERR_FILENO) != 0
        self.label = label
    }

    func note(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    func update(_ fraction: Double, _ online: Double) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let elapsed = Double(now - started) / 1e9
        let text = String(format: "%3.0f%%  online %5.1f%%  %.1f s", fraction * 100, online * 100, elapsed)
        if tty {
            guard now - lastDraw > 100_000_000 || fraction >= 1 else { return }
            lastDraw = now
            FileHandle.standardError.write(Data("\r\(label): \(text)\u{1B}[K".utf8))
        } else {
            let decile = Int(fraction * 10)
            guard decile != lastDecile, elapsed > 2 else { return }
            lastDecile = decile
            FileHandle.standardError.write(Data("\(label): \(text)\n".utf8))
        }
    }

    func finish() {
        if enabled && tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
