import DeviceModel

/// When each device joins the fleet, computed as it is needed instead of queued up front.
///
/// A group (or a timeline `add-devices`) is a cohort of consecutive device numbers joining evenly
/// over a ramp, so the k-th join of a cohort is a formula. Merging the few cohorts on the fly
/// gives the joins in (time, device) order with no memory per device, where a million queued
/// join events would cost more than the devices themselves at the start of a run.
struct JoinSchedule {
    struct Cohort {
        var first: Int
        var count: Int
        var at: Nanoseconds
        var ramp: Nanoseconds
        /// Joins of this cohort already handed out.
        var done = 0

        @inline(__always)
        func time(_ k: Int) -> Nanoseconds {
            count > 1 ? at + Nanoseconds(Double(ramp) * Double(k) / Double(count)) : at
        }
    }

    private var cohorts: [Cohort] = []
    /// The cohort holding the next join (-1: none left).
    private var nextCohort = -1
    /// The next join, valid when `nextCohort >= 0`.
    private(set) var nextTime: Nanoseconds = 0
    private(set) var nextDevice = 0

    var isEmpty: Bool { nextCohort < 0 }

    /// Adds `count` devices numbered from `first`; cohorts are added in device order.
    mutating func add(first: Int, count: Int, at: Nanoseconds, ramp: Nanoseconds) {
        guard count > 0 else { return }
        cohorts.append(Cohort(first: first, count: count, at: at, ramp: ramp))
        choose()
    }

    /// Hands out the next join.
    mutating func advance() {
        cohorts[nextCohort].done += 1
        choose()
    }

    /// The earliest pending join across cohorts; on equal times the lower device number.
    private mutating func choose() {
        nextCohort = -1
        for (i, c) in cohorts.enumerated() where c.done < c.count {
            let t = c.time(c.done), device = c.first + c.done
            if nextCohort < 0 || t < nextTime || (t == nextTime && device < nextDevice) {
                nextCohort = i
                nextTime = t
                nextDevice = device
            }
        }
    }
}
