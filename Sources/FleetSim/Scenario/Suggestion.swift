/// "Did you mean …?" for near misses: an edit distance of at most 2 (counting a swap of two
/// neighbours as one edit), or one word a prefix of the other.
enum Suggestion {
    static func closest(to typed: String, in candidates: [String]) -> String? {
        let t = normalized(typed)
        guard !t.isEmpty else { return nil }
        var best: (String, Int)?
        for candidate in candidates {
            let c = normalized(candidate)
            var d = distance(t, c)
            if d > 2 || d >= t.count {
                guard t.count >= 2, c.starts(with: t) || t.starts(with: c) else { continue }
                d = 3
            }
            if best == nil || d < best!.1 { best = (candidate, d) }
        }
        return best?.0
    }

    private static func normalized(_ s: String) -> [Character] {
        Array(s.lowercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
