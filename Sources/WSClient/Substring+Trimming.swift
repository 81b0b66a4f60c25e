/// Header-value trimming without Foundation.
extension Substring {
    func trimmingCharacters(in set: Character = " ") -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" || f == set { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == set { s = s.dropLast() }
        return String(s)
    }
}
