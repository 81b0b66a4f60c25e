import DeviceModel
import FleetSim
import Testing

/// The published findings of "Exponential Backoff And Jitter" (Brooker, 2015), reproduced with our
/// reconnect policies. Fewer trials than the CLI's 100 to stay fast in debug builds; every run is
/// seeded, so these are exact re-computations, not flaky samples.
@Suite(.tags(.slow)) struct BackoffExperimentTests {
    typealias Strategy = BackoffExperiment.Strategy

    /// N = 100, the client count the post quotes.
    static let atHundred = BackoffExperiment.run(clients: [100], trials: 30, seed: 2015)

    static func row(_ strategy: Strategy, in rows: [BackoffExperiment.Row] = atHundred) -> BackoffExperiment.Row {
        rows.first { $0.strategy == strategy }!
    }

    @Test func aLoneClientWritesOnceInTwoRoundTrips() {
        for strategy in Strategy.allCases {
            let o = BackoffExperiment.simulate(strategy: strategy, clients: 1, seed: 1)
            #expect(o.calls == 1)
            #expect(o.completion > 20 * Time.millisecond && o.completion < 60 * Time.millisecond)
        }
    }

    @Test func withoutBackoffWorkGrowsWithTheSquareOfContentionAndTimeLinearly() {
        let rows = BackoffExperiment.run(clients: [40, 80], strategies: [.noBackoff], trials: 10, seed: 2015)
        let (small, large) = (rows[0], rows[1])
        #expect(large.meanCalls / small.meanCalls > 3)                       // N²: 4, linear: 2
        let timeRatio = large.meanCompletionMilliseconds / small.meanCompletionMilliseconds
        #expect(timeRatio > 1.5 && timeRatio < 2.5)
    }

    @Test func backoffWithoutJitterSavesLittleWork() {
        let none = Self.row(.noBackoff), expo = Self.row(.exponential)
        #expect(expo.meanCalls < none.meanCalls)
        #expect(expo.meanCalls > 0.6 * none.meanCalls)
    }

    @Test func fullJitterMoreThanHalvesTheCallsOfPlainExponentialBackoffAtHundredClients() {
        #expect(Self.row(.fullJitter).meanCalls < 0.5 * Self.row(.exponential).meanCalls)
    }

    @Test(arguments: [Strategy.fullJitter, .equalJitter, .decorrelatedJitter])
    func plainExponentialBackoffTakesMoreWorkAndMoreTimeThanJitter(_ jittered: Strategy) {
        let expo = Self.row(.exponential), j = Self.row(jittered)
        #expect(j.meanCalls < expo.meanCalls)
        #expect(j.meanCompletion < expo.meanCompletion)
    }

    @Test func fullAndEqualJitterMakeAboutTheSameCallsAndDecorrelatedMore() {
        let full = Self.row(.fullJitter), equal = Self.row(.equalJitter), decorr = Self.row(.decorrelatedJitter)
        #expect(abs(equal.meanCalls - full.meanCalls) < 0.1 * full.meanCalls)
        #expect(decorr.meanCalls > 1.1 * full.meanCalls)
        #expect(decorr.meanCalls > 1.1 * equal.meanCalls)
    }

    @Test func equalJitterTakesMuchLongerThanFullJitter() {
        let full = Self.row(.fullJitter), equal = Self.row(.equalJitter)
        #expect(equal.meanCompletion > full.meanCompletion + full.meanCompletion / 5)
        #expect(equal.meanCompletion > Self.row(.decorrelatedJitter).meanCompletion)
    }

    @Test func fullJitterUsesLessWorkButSlightlyMoreTimeThanDecorrelatedJitter() {
        let full = Self.row(.fullJitter), decorr = Self.row(.decorrelatedJitter)
        #expect(full.meanCalls < decorr.meanCalls)
        #expect(full.meanCompletion > decorr.meanCompletion)
        #expect(full.meanCompletion < decorr.meanCompletion + decorr.meanCompletion / 5)   // "slightly"
    }

    @Test func everyPublishedFindingIsReproducedAtHundredClients() {
        let findings = BackoffExperiment.findings(Self.atHundred, at: 100)
        #expect(findings.count == 6)
        for f in findings { #expect(f.reproduced, "\(f.published) — \(f.ours)") }
    }

    @Test func findingsNeedEveryStrategyAtTheClientCount() {
        #expect(BackoffExperiment.findings(Self.atHundred, at: 50).isEmpty)
    }

    @Test func theSameSeedGivesTheSameFigures() {
        let a = BackoffExperiment.run(clients: [10, 30], trials: 5, seed: 42)
        let b = BackoffExperiment.run(clients: [10, 30], trials: 5, seed: 42)
        #expect(a == b)
        #expect(a.count == 10)
        #expect(a.map(\.clients) == [10, 10, 10, 10, 10, 30, 30, 30, 30, 30])
    }

    @Test func anotherSeedGivesOtherDraws() {
        let a = BackoffExperiment.run(clients: [30], strategies: [.fullJitter], trials: 5, seed: 42)
        let b = BackoffExperiment.run(clients: [30], strategies: [.fullJitter], trials: 5, seed: 43)
        #expect(a != b)
    }
}
