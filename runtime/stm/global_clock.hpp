// The global version clock: every writing commit takes the next value, and
// every word it wrote is stamped with it in the orec table.
//
// INVARIANT (clock-order): a commit stamped t has taken all its locks before
// the clock reached t, so a transaction whose snapshot is s >= t and that
// finds a word unlocked with version <= s sees every write of that commit.
#pragma once

#include <atomic>
#include <cstdint>

namespace optimist::detail {

struct alignas(64) global_clock {
  std::atomic<std::uint64_t> now{0};
  char padding[64 - sizeof(std::atomic<std::uint64_t>)];
};

inline global_clock g_clock;

// The current time, as a start snapshot or an extension target.
inline std::uint64_t clock_now() noexcept {
  return g_clock.now.load(std::memory_order_acquire);
}

// Takes the next commit timestamp.
inline std::uint64_t clock_tick() noexcept {
  return g_clock.now.fetch_add(1, std::memory_order_acq_rel) + 1;
}

}  // namespace optimist::detail
