import DeviceModel

/// Admission control as `fleetsim backend` and `/admin/admission` take it: DeviceModel's
/// `AdmissionPolicy`, the one admission type from the scenario to the backend, with its one text
/// form (`AdmissionPolicy.description`, `init(parsing:)`).
public typealias AdmissionLimits = AdmissionPolicy

extension AdmissionPolicy {
    /// The backend's names for the pending limit (its flag is `--max-pending`).
    public init(connectRate: Double? = nil, burst: Double? = nil, maxPendingHandshakes: Int?, retryAfter: Nanoseconds? = nil) {
        self.init(connectRate: connectRate, burst: burst, maxPending: maxPendingHandshakes, retryAfter: retryAfter)
    }

    /// Handshakes waiting for the database at or beyond which new ones are turned away; nil: no limit.
    public var maxPendingHandshakes: Int? {
        get { maxPending }
        set { maxPending = newValue }
    }

    /// The rule itself (what older callers read before the types were one).
    public var policy: AdmissionPolicy { self }
}
