/// A binary min-heap of events (by time, then insertion order) for the far future.
struct OverflowHeap {
    private var items: [SimEvent] = []

    var count: Int { items.count }
    var first: SimEvent? { items.first }

    mutating func push(_ event: SimEvent) {
        items.append(event)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard SimEvent.before(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> SimEvent {
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, SimEvent.before(items[left], items[smallest]) { smallest = left }
                if right < items.count, SimEvent.before(items[right], items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
