import Testing
@testable import DeviceModel
@testable import FleetSim

@Test func queriesAreServedFirstComeFirstServedOnTheFirstFreeCore() {
    let db = DatabaseModel(cores: 2, speed: 1, queueTimeout: nil, interval: Time.second, intervals: 10)
    #expect(db.issue(arrival: 0, cost: 100) == 100)
    #expect(db.issue(arrival: 0, cost: 50) == 50)
    #expect(db.issue(arrival: 10, cost: 10) == 60)        // waits for the core freeing at 50
    #expect(db.issue(arrival: 10, cost: 10) == 70)
    #expect(db.wait(at: 20) == 50)                        // next free core: 70
}

@Test func workThatWouldWaitPastTheTimeoutIsRefusedAndCostsNothing() {
    let db = DatabaseModel(cores: 1, speed: 1, queueTimeout: 5 * Time.second, interval: Time.second, intervals: 20)
    #expect(db.issue(arrival: 0, cost: 4 * Time.second) != nil)
    #expect(db.issue(arrival: 0, cost: 4 * Time.second) != nil)   // waits 4 s
    #expect(db.issue(arrival: 0, cost: 4 * Time.second) == nil)   // would wait 8 s
    #expect(db.refused == 1)
    #expect(db.utilization(interval: 7) == 1 && db.utilization(interval: 8) == 0)
}

@Test func utilizationCountsBusyTimePerInterval() {
    let db = DatabaseModel(cores: 2, speed: 1, queueTimeout: nil, interval: Time.second, intervals: 4)
    _ = db.issue(arrival: Time.second / 2, cost: Time.second)      // 0.5 s in interval 0, 0.5 s in 1
    #expect(abs(db.utilization(interval: 0) - 0.25) < 1e-9)
    #expect(abs(db.utilization(interval: 1) - 0.25) < 1e-9)
}

@Test func addingCoresShortensTheQueue() {
    let db = DatabaseModel(cores: 1, speed: 1, queueTimeout: nil, interval: Time.second, intervals: 4)
    _ = db.issue(arrival: 0, cost: 1_000)
    db.setCores(3, at: 0)
    #expect(db.cores == 3)
    #expect(db.issue(arrival: 0, cost: 10) == 10)
}
