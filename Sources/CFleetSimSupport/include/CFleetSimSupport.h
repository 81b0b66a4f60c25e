#ifndef CFLEETSIM_SUPPORT_H
#define CFLEETSIM_SUPPORT_H

/// Hints the CPU to start loading the cache line at `address`: the simulation engine asks for
/// the next event's device while it handles the current one, hiding a memory round trip.
static inline void fleetsim_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
