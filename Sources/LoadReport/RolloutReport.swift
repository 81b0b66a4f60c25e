import Foundation

/// The answer of a rollout check (`fleetsim.rollout/1`): the largest shares of the fleet the
/// candidate firmware can take while the backend stays healthy (stability) and while it still
/// comes back from the standard perturbation (recovery), their spread across seeds, why it tips,
/// and the verdict on the planned share.
///
/// Shares are fractions 0…1 of the rollout fleet (the baseline groups plus the candidate group).
public struct RolloutReport: Codable, Sendable {
    public static let schemaName = "fleetsim.rollout/1"

    public var schema: String = RolloutReport.schemaName
    public var scenario: String
    /// Devices in the rollout fleet (baseline + candidate).
    public var fleetSize: Int
    public var candidate: String
    public var baseline: [String]
    public var planned: Double
    public var margin: Double
    public var health: Health
    public var seeds: [UInt64]
    /// Bisection stops when the bracket is this narrow.
    public var precision: Double
    /// nil when only a sweep was run.
    public var stability: Boundary?
    public var recovery: Boundary?
    /// Why the fleet tips just above each boundary.
    public var stabilityCause: Cause?
    public var recoveryCause: Cause?
    /// The share the gate uses: the recovery boundary of the worst seed.
    public var safeShare: Double?
    /// True when `planned × margin ≤ safeShare`.
    public var safe: Bool?
    public var sweep: Sweep?
    /// `--verify-live`: the model's verdicts on both sides of its boundary, checked by live runs.
    public var verification: RolloutVerificationReport?
    public var simulations: Int
    public var wallS: Double

    public init(scenario: String, fleetSize: Int, candidate: String, baseline: [String], planned: Double,
                margin: Double, health: Health, seeds: [UInt64], precision: Double) {
        self.scenario = scenario
        self.fleetSize = fleetSize
        self.candidate = candidate
        self.baseline = baseline
        self.planned = planned
        self.margin = margin
        self.health = health
        self.seeds = seeds
        self.precision = precision
        self.simulations = 0
        self.wallS = 0
    }

    enum CodingKeys: String, CodingKey {
        case schema, scenario, candidate, baseline, planned, margin, health, seeds, precision, stability, recovery
        case fleetSize = "fleet_size"
        case stabilityCause = "stability_cause"
        case recoveryCause = "recovery_cause"
        case safeShare = "safe_share"
        case safe, sweep, simulations, verification
        case wallS = "wall_s"
    }

    /// The health definition the boundaries were searched with.
    public struct Health: Codable, Sendable, Equatable {
        public var onlineFraction: Double
        public var windowS: Double
        public var perturbationAtS: Double
        public var perturbationDownS: Double
        public var recoverWithinS: Double
        public var holdS: Double

        public init(onlineFraction: Double, windowS: Double, perturbationAtS: Double, perturbationDownS: Double,
                    recoverWithinS: Double, holdS: Double) {
            self.onlineFraction = onlineFraction
            self.windowS = windowS
            self.perturbationAtS = perturbationAtS
            self.perturbationDownS = perturbationDownS
            self.recoverWithinS = recoverWithinS
            self.holdS = holdS
        }

        enum CodingKeys: String, CodingKey {
            case onlineFraction = "online_fraction"
            case windowS = "window_s"
            case perturbationAtS = "perturbation_at_s"
            case perturbationDownS = "perturbation_down_s"
            case recoverWithinS = "recover_within_s"
            case holdS = "hold_s"
        }
    }

    /// One boundary: the largest healthy share found by bisection, per seed.
    public struct Boundary: Codable, Sendable, Equatable {
        /// Per seed, in the order of `seeds`: the largest share that was healthy.
        public var perSeed: [Double]
        /// Per seed: the smallest share that was not (nil: 100% was healthy).
        public var firstUnhealthy: [Double?]
        /// Every simulated probe, per seed, in the order run.
        public var probes: [[Probe]]

        public init(perSeed: [Double], firstUnhealthy: [Double?], probes: [[Probe]]) {
            self.perSeed = perSeed
            self.firstUnhealthy = firstUnhealthy
            self.probes = probes
        }

        public var min: Double { perSeed.min() ?? 0 }
        public var max: Double { perSeed.max() ?? 0 }
        public var median: Double { ReportRules.median(perSeed) ?? 0 }

        enum CodingKeys: String, CodingKey {
            case perSeed = "per_seed"
            case firstUnhealthy = "first_unhealthy"
            case probes
        }
    }

    /// One simulation at one share and seed.
    public struct Probe: Codable, Sendable, Equatable {
        public var share: Double
        public var candidateDevices: Int
        public var seed: UInt64
        public var healthy: Bool
        /// Why it was not healthy ("online 41% at 0h06m", "not back to 95% within 10m").
        public var reason: String?
        /// From the perturbation back to the health line (recovery probes that came back).
        public var recoveryS: Double?
        public var onlineMin: Double
        public var dbUtilizationMax: Double
        public var dbUtilizationMean: Double
        /// The first resource to saturate in this run, if any.
        public var saturated: Saturation?
        /// Scenario time simulated (a probe stops as soon as its verdict is known).
        public var simulatedS: Double
        public var wallS: Double

        public init(share: Double, candidateDevices: Int, seed: UInt64, healthy: Bool, reason: String?,
                    recoveryS: Double?, onlineMin: Double, dbUtilizationMax: Double, dbUtilizationMean: Double,
                    saturated: Saturation?, simulatedS: Double, wallS: Double) {
            self.share = share
            self.candidateDevices = candidateDevices
            self.seed = seed
            self.healthy = healthy
            self.reason = reason
            self.recoveryS = recoveryS
            self.onlineMin = onlineMin
            self.dbUtilizationMax = dbUtilizationMax
            self.dbUtilizationMean = dbUtilizationMean
            self.saturated = saturated
            self.simulatedS = simulatedS
            self.wallS = wallS
        }

        enum CodingKeys: String, CodingKey {
            case share, seed, healthy, reason, saturated
            case candidateDevices = "candidate_devices"
            case recoveryS = "recovery_s"
            case onlineMin = "online_min"
            case dbUtilizationMax = "db_utilization_max"
            case dbUtilizationMean = "db_utilization_mean"
            case simulatedS = "simulated_s"
            case wallS = "wall_s"
        }
    }

    /// A resource reaching its limit in one run: `database`, `gateway memory` or `admission`.
    public struct Saturation: Codable, Sendable, Equatable {
        public var resource: String
        public var tS: Double
        public var detail: String

        public init(resource: String, tS: Double, detail: String) {
            self.resource = resource
            self.tS = tS
            self.detail = detail
        }

        enum CodingKeys: String, CodingKey {
            case resource, detail
            case tS = "t_s"
        }
    }

    /// The first resource to saturate just above a boundary, and in how many seeds it came first.
    public struct Cause: Codable, Sendable, Equatable {
        public var resource: String
        public var seeds: Int
        public var ofSeeds: Int
        public var detail: String

        public init(resource: String, seeds: Int, ofSeeds: Int, detail: String) {
            self.resource = resource
            self.seeds = seeds
            self.ofSeeds = ofSeeds
            self.detail = detail
        }

        enum CodingKeys: String, CodingKey {
            case resource, seeds, detail
            case ofSeeds = "of_seeds"
        }
    }

    /// A capacity-planning sweep: one row per (field value, share).
    public struct Sweep: Codable, Sendable, Equatable {
        /// The swept scenario field (`backend.database.cores`), or nil for a sweep of the share only.
        public var field: String?
        public var rows: [Row]

        public init(field: String?, rows: [Row]) {
            self.field = field
            self.rows = rows
        }

        public struct Row: Codable, Sendable, Equatable {
            /// The field's value as written (nil: no field swept).
            public var value: String?
            /// nil when the row is a whole rollout check at this field value (a field sweep alone).
            public var share: Double?
            public var candidateDevices: Int?
            /// Seeds (of `seeds`) whose quiet run stayed healthy / that came back after the perturbation.
            public var stable: Int?
            public var recovered: Int?
            public var seeds: Int
            /// Median recovery time over the seeds that came back within the observed horizon.
            public var recoveryS: Double?
            public var dbUtilizationMax: Double?
            public var dbUtilizationMean: Double?
            public var onlineMin: Double?
            public var saturated: String?
            /// For a field sweep without shares: the boundaries at this value.
            public var stabilityBoundary: Double?
            public var recoveryBoundary: Double?

            public init(value: String?, share: Double?, seeds: Int) {
                self.value = value
                self.share = share
                self.seeds = seeds
            }

            enum CodingKeys: String, CodingKey {
                case value, share, stable, recovered, seeds, saturated
                case candidateDevices = "candidate_devices"
                case recoveryS = "recovery_s"
                case dbUtilizationMax = "db_utilization_max"
                case dbUtilizationMean = "db_utilization_mean"
                case onlineMin = "online_min"
                case stabilityBoundary = "stability_boundary"
                case recoveryBoundary = "recovery_boundary"
            }
        }
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
