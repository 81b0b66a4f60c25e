/// Summary statistics that several modules report.
public enum Statistics {
    /// The median of `values`: the lower of the two middle values when their count is even (an
    /// observed value, never an average of two), 0 when there are none.
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[(sorted.count - 1) / 2]
    }
}
