import DeviceModel

/// The timers of one event loop's devices: a hashed wheel of fixed slots, advanced by one
/// repeating tick, instead of a scheduled task per timer.
///
/// A device re-arms its one timer on almost every event (heartbeat → ack deadline → heartbeat);
/// with a scheduled task per arm, superseded tasks would either pile up or cost a cancellation
/// each. Here an arm is an append to a slot's array (capacity kept between laps), a stale entry is
/// dropped when its slot comes up (the device's token no longer matches), and entries beyond the
/// wheel's horizon stay in their slot for another lap. Memory is bounded by the arms within one
/// horizon, and no allocation happens once the slots have grown. Public for its benchmark
/// (Benchmarks/WSClientBench `TimerBench`, against NIO scheduled tasks).
public struct TimerWheel: Sendable {
    public struct Entry: Sendable {
        public var device: Int32
        public var token: UInt32
        public var kind: UInt8
        /// Wall-clock deadline, nanoseconds since the run's start.
        public var deadline: Int64
    }

    public let tick: Int64
    private var slots: [[Entry]]
    /// The next tick to process.
    public private(set) var cursor: Int64 = 0

    public init(tick: Int64, slots count: Int = 4096) {
        self.tick = tick
        slots = Array(repeating: [], count: count)
    }

    public mutating func arm(device: Int32, token: UInt32, kind: UInt8, at deadline: Int64) {
        let t = max(deadline / tick, cursor)
        slots[Int(t % Int64(slots.count))].append(Entry(device: device, token: token, kind: kind, deadline: deadline))
    }

    /// Moves every entry due by `now` into `due` (appended), in slot order; far entries stay.
    /// The caller fires them afterwards, and may arm new timers while it does.
    /// Only whole ticks are processed (a timer fires at most one tick late), so an entry is never
    /// left behind in a slot the cursor has passed.
    public mutating func collect(dueBy now: Int64, into due: inout [Entry]) {
        let last = now / tick - 1
        while cursor <= last {
            let s = Int(cursor % Int64(slots.count))
            cursor += 1
            guard !slots[s].isEmpty else { continue }
            var keep = 0
            for k in slots[s].indices {
                let e = slots[s][k]
                if e.deadline < (cursor) * tick { due.append(e) } else { slots[s][keep] = e; keep += 1 }
            }
            slots[s].removeLast(slots[s].count - keep)
        }
    }
}
