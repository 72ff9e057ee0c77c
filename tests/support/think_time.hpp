// tests/support/think_time.hpp — widening the window in which transactions meet.
//
//   optimist::atomically([&] {
//     long v = x.get();
//     optimist::test::think(50);   // others commit meanwhile: x is now stale
//     x.set(v + 1);
//   });
//
// The STM's transactions are so short (tens of nanoseconds) that threads
// hammering the same words mostly take turns through the cache-coherence
// protocol instead of overlapping, and a stress test then exercises none of
// the conflict paths it is meant to. A little "think time" between the reads
// and the commit makes real conflicts common without making the test slow.
#pragma once

#include <atomic>

namespace optimist::test {

// think(iterations)
//   Spins `iterations` pause instructions (about 10-40 ns each, depending on
//   the CPU); no memory traffic, no system call.
inline void think(unsigned iterations) {
  for (unsigned i = 0; i < iterations; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }
}

}  // namespace optimist::test
