import DeviceModel
import Foundation
import LoadReport

/// Capacity planning: the rollout probes at a list of shares, for every seed, in parallel. Each
/// share gets a quiet run (is it stable?) and a run with the standard perturbation, watched past
/// its bound so that a late recovery is still measured.
public enum RolloutSweep {
    /// Parses `0..100%:5%` (from, to, step) or `1%,2%,5%` into shares.
    public static func shares(_ spec: String) -> [Double]? {
        let text = spec.trimmingCharacters(in: .whitespaces)
        if text.contains("..") {
            let parts = text.components(separatedBy: ":")
            guard parts.count <= 2 else { return nil }
            let bounds = parts[0].components(separatedBy: "..").map { $0.trimmingCharacters(in: .whitespaces) }
            guard bounds.count == 2 else { return nil }
            // `0..100%:5`: the unit on the last bound applies to the first bound and to the step.
            let percent = bounds[1].hasSuffix("%")
            func unit(_ s: String) -> String { percent && !s.hasSuffix("%") ? s + "%" : s }
            guard var from = Units.fraction(unit(bounds[0])), var to = Units.fraction(bounds[1]) else { return nil }
            if to < from { swap(&from, &to) }
            let step = parts.count == 2 ? Units.fraction(unit(parts[1].trimmingCharacters(in: .whitespaces))) : 0.05
            guard let step, step > 0 else { return nil }
            var out: [Double] = []
            var k = 0
            while true {
                let v = from + Double(k) * step
                guard v <= to + 1e-9 else { break }
                out.append((min(v, to) * 1e9).rounded() / 1e9)
                k += 1
                if out.count > 1000 { return nil }
            }
            return out
        }
        let values = text.components(separatedBy: ",").map { Units.fraction($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { return nil }
        return values.map { $0! }
    }

    /// One row per share (in order), each over `seeds`.
    public static func run(_ scenario: Scenario, shares: [Double], seeds: [UInt64], value: String? = nil,
                           threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> [RolloutReport.Sweep.Row] {
        var probes: [RolloutProbe] = []
        for share in shares {
            for seed in seeds {
                probes.append(RolloutProbe(kind: .stability, share: share, seed: seed))
                probes.append(RolloutProbe(kind: .recovery, share: share, seed: seed, observeLateRecovery: true))
            }
        }
        let results = RolloutCheck.parallelMap(probes, threads: threads) { $0.run(scenario) }
        var rows: [RolloutReport.Sweep.Row] = []
        for (i, share) in shares.enumerated() {
            let chunk = results[(i * seeds.count * 2)..<((i + 1) * seeds.count * 2)]
            let stable = chunk.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
            let recovery = chunk.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            var row = RolloutReport.Sweep.Row(value: value, share: share, seeds: seeds.count)
            row.candidateDevices = scenario.candidateDevices(atShare: share)
            row.stable = stable.filter(\.healthy).count
            row.recovered = zip(stable, recovery).filter { $0.healthy && $1.healthy }.count
            let times = recovery.compactMap(\.recoveryS).sorted()
            // The median over seeds that came back at all, if most did; else "did not come back".
            if times.count * 2 > seeds.count { row.recoveryS = times[times.count / 2] }
            row.dbUtilizationMax = stable.map(\.dbUtilizationMax).max()
            let means = stable.map(\.dbUtilizationMean).sorted()
            row.dbUtilizationMean = means[means.count / 2]
            row.onlineMin = stable.map(\.onlineMin).min()
            var counts: [String: Int] = [:]
            for p in stable + recovery { if let s = p.saturated { counts[s.resource, default: 0] += 1 } }
            row.saturated = counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
            rows.append(row)
        }
        return rows
    }
}
