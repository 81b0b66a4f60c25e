import DeviceModel

/// The question a rollout check answers, written in the scenario's `rollout:` section: how much of
/// the fleet can run the candidate firmware before the backend tips over, and can it still recover
/// from a bad event (scenarios/README.md, "rollout").
///
/// The share is the candidate group's part of the *rollout fleet*: the baseline groups plus the
/// candidate group, as written. A share moves devices from the baseline groups to the candidate;
/// other groups are left as they are.
public struct Rollout: Sendable, Equatable {
    /// The fleet group that runs the candidate firmware (its firmware and profile are the candidate's).
    public var candidate: String
    /// The groups whose devices move to the candidate, in proportion to their counts.
    public var baseline: [String]
    /// The share of the rollout fleet the plan puts on the candidate.
    public var planned: Double
    /// The plan must be at most the safe share divided by this (2: half the safe share).
    public var margin: Double
    public var health: Health
    public var search: Search

    public init(candidate: String, baseline: [String], planned: Double, margin: Double = 2,
                health: Health = Health(), search: Search = Search()) {
        self.candidate = candidate
        self.baseline = baseline
        self.planned = planned
        self.margin = margin
        self.health = health
        self.search = search
    }

    /// What "healthy" means.
    public struct Health: Sendable, Equatable {
        /// Healthy: the online fraction stays at or above this (after the fleet is first established).
        public var onlineFraction: Double = 0.95
        /// Scenario time of a quiet run, for the stability boundary; nil: the scenario's duration.
        public var window: Nanoseconds?
        /// The standard perturbation: at this time every gateway restarts (all sessions drop)…
        public var perturbationAt: Nanoseconds = 30 * Time.minute
        /// …and stays down this long; nil: the gateways' `restart`.
        public var perturbationDown: Nanoseconds?
        /// Back to `onlineFraction` within this, counted from the perturbation…
        public var recoverWithin: Nanoseconds = 10 * Time.minute
        /// …and holding for this long.
        public var hold: Nanoseconds = 10 * Time.minute

        public init() {}
    }

    /// How the boundaries are searched.
    public struct Search: Sendable, Equatable {
        /// Seeds per boundary (the scenario's seed, seed + 1, …): boundaries are stochastic near the edge.
        public var seeds: Int = 3
        /// Bisection stops when the bracket is this narrow (a share, e.g. 0.0025 for 0.25%).
        public var precision: Double = 0.0025

        public init() {}
    }
}
