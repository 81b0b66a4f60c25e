import Foundation
import Prometheus

/// `/metrics`: the backend's swift-prometheus registry in Prometheus text format (version 0.0.4).
/// Counters and histograms are kept by the registry as the backend works; what is read from
/// elsewhere (the database pool, the fault and block lists, the process's memory and CPU) is set
/// here, just before the registry is emitted.
extension BackendCore {
    func renderMetrics() -> String {
        let database = self.database
        let injected = faults
        let blocked = blockList.current.count
        let busy = busyFraction
        return metrics.emit { series in
            series.pendingMemoryBytes.set(to: Double(pendingMemory.heldBytes))
            for (kind, gauge) in series.faultActive { gauge.set(to: injected.isOn(kind) ? 1 : 0) }
            series.dbQueueLength.set(to: Double(database?.queueLength ?? 0))
            series.dbWorkers.set(to: Double(database?.workers ?? 0))
            series.dbWorkersBusy.set(to: Double(database?.activeWorkers ?? 0))
            series.dbBusyFraction.set(to: busy)
            let waits = database?.waits ?? (oldestSeconds: 0, totalSeconds: 0, started: 0)
            series.dbWait.set(to: waits.oldestSeconds)
            // Totals the pool and the kernel keep: mirrored into the counters (swift-prometheus has
            // no `set` for a counter; the scrape lock keeps a reset and its increment together).
            Self.mirror(series.dbBusySeconds, database?.busySeconds ?? 0)
            Self.mirror(series.dbWaitSecondsTotal, waits.totalSeconds)
            series.dbWaitCount.reset()
            series.dbWaitCount.increment(by: Int64(waits.started))
            series.lastSeenPending.set(to: Double(lastSeen.count))
            series.blockedRanges.set(to: Double(blocked))
            series.residentBytes.set(to: Double(ProcessStats.residentBytes()))
            series.anonymousBytes.set(to: Double(ProcessStats.anonymousBytes()))
            Self.mirror(series.cpuSeconds, ProcessStats.cpuSeconds())
        }
    }

    private static func mirror(_ counter: Counter, _ total: Double) {
        counter.reset()
        if total > 0 { counter.increment(by: total) }
    }
}
