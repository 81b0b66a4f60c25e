import DeviceModel
import Testing
@testable import FleetSim

private func cohort(group: Int = 0, first: Int, count: Int, at: Nanoseconds, ramp: Nanoseconds) -> FleetPlan.Cohort {
    FleetPlan.Cohort(group: group, first: first, count: count, at: at, ramp: ramp, rosterOffset: 0)
}

/// Every join the schedule hands out, as (time, device), in the order handed out.
private func drain(_ cohorts: [FleetPlan.Cohort]) -> [(time: Nanoseconds, device: Int)] {
    var schedule = JoinSchedule()
    for c in cohorts { schedule.add(c) }
    var out: [(time: Nanoseconds, device: Int)] = []
    while !schedule.isEmpty {
        out.append((schedule.nextTime, schedule.nextDevice))
        schedule.advance()
    }
    return out
}

@Test func joinsComeOutInTimeThenDeviceOrderAcrossOverlappingCohorts() {
    let s = Time.second
    let joins = drain([
        cohort(first: 0, count: 4, at: 0, ramp: 4 * s),          // 0 s, 1 s, 2 s, 3 s
        cohort(group: 1, first: 4, count: 3, at: s, ramp: 3 * s),  // 1 s, 2 s, 3 s
        cohort(first: 7, count: 2, at: 0, ramp: 0),              // both at 0 s
        cohort(group: 1, first: 9, count: 2, at: 1_500_000_000, ramp: s),  // 1.5 s, 2 s
    ])
    #expect(joins.map(\.device) == [0, 7, 8, 1, 4, 9, 2, 5, 10, 3, 6])
    #expect(joins.map(\.time) == [0, 0, 0, s, s, 1_500_000_000, 2 * s, 2 * s, 2 * s, 3 * s, 3 * s])
}

@Test func aLaterCohortCanJoinFirst() {
    let joins = drain([cohort(first: 0, count: 2, at: 10 * Time.minute, ramp: 0),
                       cohort(first: 2, count: 2, at: Time.minute, ramp: Time.minute)])
    #expect(joins.map(\.device) == [2, 3, 0, 1])
}

@Test func zeroCountCohortsAreSkipped() {
    let joins = drain([cohort(first: 0, count: 0, at: 0, ramp: 0),
                       cohort(first: 0, count: 2, at: Time.second, ramp: 0),
                       cohort(first: 2, count: 0, at: 0, ramp: Time.minute),
                       cohort(first: 2, count: 1, at: 0, ramp: 0)])
    #expect(joins.map(\.device) == [2, 0, 1])
    #expect(drain([cohort(first: 0, count: 0, at: 0, ramp: 0)]).isEmpty)
    #expect(JoinSchedule().isEmpty)
}

@Test func theScheduleOfAPlanIsEveryDeviceAtItsJoinTime() throws {
    let scenario = try ScenarioLoader.load(yaml: """
        version: 1
        name: joins
        duration: 2h
        profiles:
          p: {}
        fleet:
          - { name: a, count: 50, firmware: 3.7.2, profile: p, join: { ramp: 30m } }
          - { name: b, count: 7, firmware: 3.8.0, profile: p, join: { at: 10m, ramp: 7m } }
          - { name: c, count: 0, firmware: 3.8.0, profile: p }
        backend:
          gateways: { count: 1 }
          database: { cores: 1, rows: 10 }
        timeline:
          - { at: 12m, action: add-devices, group: c, count: 20, ramp: 20m }
        """, path: "joins.yaml")
    let plan = FleetPlan(scenario: scenario)
    let joins = drain(plan.cohorts)
    let expected = (0..<plan.deviceCount).map { (time: plan.joinTime(ofDevice: $0), device: $0) }
        .sorted { ($0.time, $0.device) < ($1.time, $1.device) }
    #expect(joins.count == 77)
    #expect(joins.map(\.device) == expected.map(\.device))
    #expect(joins.map(\.time) == expected.map(\.time))
}
