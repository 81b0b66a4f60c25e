/// A fixed-size array that the engine mutates in place on its hot path.
///
/// A Swift `Array` stored in the engine checks that its buffer is uniquely referenced on every
/// element write; this buffer is allocated once, freed with its owner, and written through
/// directly. The engine keeps `items` in a stored property of its own next to the owner.
final class FixedArray<Element> {
    let items: UnsafeMutableBufferPointer<Element>

    init(_ elements: [Element]) {
        items = .allocate(capacity: max(1, elements.count))
        _ = items.initialize(from: elements)
        count = elements.count
    }

    private let count: Int

    deinit {
        items.baseAddress!.deinitialize(count: count)
        items.deallocate()
    }
}
