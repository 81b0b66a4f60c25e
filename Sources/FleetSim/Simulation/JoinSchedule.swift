import DeviceModel

/// When each device joins the fleet, computed as it is needed instead of queued up front.
///
/// The plan's cohorts (`FleetPlan.Cohort`) are consecutive device numbers joining evenly over a
/// ramp, so the k-th join of a cohort is a formula. Merging the few cohorts on the fly gives the
/// joins in (time, device) order with no memory per device, where a million queued join events
/// would cost more than the devices themselves at the start of a run.
struct JoinSchedule {
    private var cohorts: [FleetPlan.Cohort] = []
    /// Joins of each cohort already handed out.
    private var done: [Int] = []
    /// The cohort holding the next join (-1: none left).
    private var nextCohort = -1
    /// The next join, valid when `nextCohort >= 0`.
    private(set) var nextTime: Nanoseconds = 0
    private(set) var nextDevice = 0

    var isEmpty: Bool { nextCohort < 0 }

    /// Adds a cohort; cohorts are added in device order.
    mutating func add(_ cohort: FleetPlan.Cohort) {
        guard cohort.count > 0 else { return }
        cohorts.append(cohort)
        done.append(0)
        choose()
    }

    /// Hands out the next join.
    mutating func advance() {
        done[nextCohort] += 1
        choose()
    }

    /// The earliest pending join across cohorts; on equal times the lower device number.
    private mutating func choose() {
        nextCohort = -1
        for (i, c) in cohorts.enumerated() where done[i] < c.count {
            let t = c.time(done[i]), device = c.first + done[i]
            if nextCohort < 0 || t < nextTime || (t == nextTime && device < nextDevice) {
                nextCohort = i
                nextTime = t
                nextDevice = device
            }
        }
    }
}
