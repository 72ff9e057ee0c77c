// The global version clock, advanced lazily (TL2's "GV5" idea, made safe for
// snapshot extension).
//
// A writing commit does not increment the clock: it stamps its words with
// `clock + 1`, read after all its locks are held. So commits never write a
// shared cache line on the hot path and several may share a stamp. The clock
// advances only when a reader needs it to: a transaction that meets a word
// newer than its snapshot raises the clock to at least that version, then
// revalidates and adopts it as its snapshot. Commits that delete objects tick
// it for real, so that reclamation can see time pass.
//
// INVARIANT (clock-order): a commit stamped t read the clock (t - 1) after
// taking all its locks; any transaction whose snapshot s >= t read the clock
// after it was raised past t - 1, hence after those locks. So a word found
// unlocked with version <= s shows every write of that commit, and a word
// changed after a transaction read it always carries a version above its
// snapshot. The clock, the lock CASes and the first orec load of a read are
// sequentially consistent so that this ordering holds in the C++ model (they
// cost the same as acquire/release on x86-64).
#pragma once

#include <atomic>
#include <cstdint>

namespace optimist::detail {

struct alignas(64) global_clock {
  std::atomic<std::uint64_t> now{0};
  char padding[64 - sizeof(std::atomic<std::uint64_t>)];
};

inline global_clock g_clock;

// The current time, as a start snapshot.
inline std::uint64_t clock_now() noexcept {
  return g_clock.now.load(std::memory_order_seq_cst);
}

// The stamp of a commit whose locks are all held: one above the clock.
inline std::uint64_t clock_commit_stamp() noexcept {
  return clock_now() + 1;
}

// Raises the clock to at least `version` and returns the time now (>= version).
inline std::uint64_t clock_raise_to(std::uint64_t version) noexcept {
  std::uint64_t now = g_clock.now.load(std::memory_order_seq_cst);
  while (now < version &&
         !g_clock.now.compare_exchange_weak(now, version, std::memory_order_seq_cst)) {
  }
  return now < version ? version : now;
}

// A stamp no other commit has, after which the clock has moved on.
inline std::uint64_t clock_tick() noexcept {
  return g_clock.now.fetch_add(1, std::memory_order_seq_cst) + 1;
}

}  // namespace optimist::detail
