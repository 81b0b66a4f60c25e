#ifndef CFLEETSIM_SUPPORT_H
#define CFLEETSIM_SUPPORT_H

/// Hints the CPU to start loading the cache line at `address`: the simulation engine asks for
/// the next event's device while it handles the current one, hiding a memory round trip.
static inline void fleetsim_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// Sets the calling thread's timer slack (how late the kernel may wake a sleep, 50 µs by
/// default): a database worker holding a query for its stated cost sleeps to within a few
/// microseconds of it. Returns 0, or -1 where the system has no such setting.
#if defined(__linux__)
#include <sys/prctl.h>
static inline int fleetsim_set_timer_slack(unsigned long nanoseconds) {
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0);
}
#else
static inline int fleetsim_set_timer_slack(unsigned long nanoseconds) { (void)nanoseconds; return -1; }
#endif

#endif
