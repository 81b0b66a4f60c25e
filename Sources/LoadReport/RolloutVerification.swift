/// `rollout-check --verify-live`: the model's prediction at a few shares around its recovery
/// boundary, and what live runs against a real backend showed at the same shares.
public struct RolloutVerificationReport: Codable, Sendable, Equatable {
    /// The model's recovery boundary (the median over seeds) and its spread across seeds: the
    /// points lie one step outside the spread, where every seed gives the same verdict.
    public var boundary: Double
    public var boundaryLow: Double
    public var boundaryHigh: Double
    /// The distance of the points from the boundary: the search's precision or 1% of the fleet,
    /// whichever is larger.
    public var step: Double
    /// Where the live runs went: "the embedded backend" or the target URL.
    public var target: String
    public var timeScale: Double
    public var points: [Point]
    public var wallS: Double

    public init(boundary: Double, low: Double, high: Double, step: Double, target: String, timeScale: Double,
                points: [Point], wallS: Double) {
        self.boundary = boundary
        self.boundaryLow = low
        self.boundaryHigh = high
        self.step = step
        self.target = target
        self.timeScale = timeScale
        self.points = points
        self.wallS = wallS
    }

    /// Every point's live verdict matches the model's.
    public var agrees: Bool { points.allSatisfy(\.agrees) }

    public struct Point: Codable, Sendable, Equatable {
        /// Why this share was run: "below", "above" (the boundary) or "planned".
        public var role: String
        public var share: Double
        public var candidateDevices: Int
        /// The model over the check's seeds: a majority stable / recovered, and the median
        /// recovery time of the seeds that came back (nil: most did not).
        public var predictedStable: Bool
        public var predictedRecovered: Bool
        public var predictedRecoveryS: Double?
        /// One live run with the standard perturbation: stable before it, recovered after it
        /// (within the bound, holding), and when it came back (also when later than the bound).
        public var liveStable: Bool
        public var liveRecovered: Bool
        public var liveRecoveryS: Double?
        /// Why the live run was not healthy, as the model's probes say it.
        public var liveReason: String?
        /// The live run's report folder.
        public var report: String
        /// Set when the live run could not complete: its verdict is then not a finding.
        public var incomplete: String?

        public init(role: String, share: Double, candidateDevices: Int, predictedStable: Bool, predictedRecovered: Bool,
                    predictedRecoveryS: Double?, liveStable: Bool, liveRecovered: Bool, liveRecoveryS: Double?,
                    liveReason: String?, report: String, incomplete: String?) {
            self.role = role
            self.share = share
            self.candidateDevices = candidateDevices
            self.predictedStable = predictedStable
            self.predictedRecovered = predictedRecovered
            self.predictedRecoveryS = predictedRecoveryS
            self.liveStable = liveStable
            self.liveRecovered = liveRecovered
            self.liveRecoveryS = liveRecoveryS
            self.liveReason = liveReason
            self.report = report
            self.incomplete = incomplete
        }

        /// The live run tells the model's story: stable and recovered alike.
        public var agrees: Bool { predictedStable == liveStable && predictedRecovered == liveRecovered }

        enum CodingKeys: String, CodingKey {
            case role, share, report, incomplete
            case candidateDevices = "candidate_devices"
            case predictedStable = "predicted_stable"
            case predictedRecovered = "predicted_recovered"
            case predictedRecoveryS = "predicted_recovery_s"
            case liveStable = "live_stable"
            case liveRecovered = "live_recovered"
            case liveRecoveryS = "live_recovery_s"
            case liveReason = "live_reason"
        }
    }

    enum CodingKeys: String, CodingKey {
        case boundary, step, target, points
        case boundaryLow = "boundary_low"
        case boundaryHigh = "boundary_high"
        case timeScale = "time_scale"
        case wallS = "wall_s"
    }
}
