// The global version clock, advanced lazily (TL2's "GV5" idea, made safe for
// snapshot extension), and the accesses whose order its proof relies on.
//
// A writing commit does not increment the clock: it stamps its words with
// `clock + 1`, read after all its locks are held. So commits never write a
// shared cache line on the hot path and several may share a stamp. The clock
// advances only when a reader needs it to: a transaction that meets a word
// newer than its snapshot raises the clock to at least that version, then
// revalidates and adopts it as its snapshot. Commits that delete objects tick
// it for real, so that reclamation can see time pass.
//
// Two consequences of laziness that every user of versions must respect:
// an orec may carry a version one above the clock (its last commit has not
// been "seen" yet), and the next commit to that orec may stamp the very same
// version again — versions do not always grow. What does hold:
//
// INVARIANT (recorded-below-clock): a version that anyone records — in a read
// set, a wait set (retry), or to compare against later — is at most the clock
// at the moment it is recorded. Readers raise the clock to a version before
// they use it (transaction::read, standalone_read); the irrevocable attempt
// raises it before it records its reservations for a retry (retry.cpp).
// Debug builds check it where versions are recorded (read_set::add).
// INVARIANT (clock-order): a commit stamped t read the clock (t - 1) after
// taking all its locks; any transaction whose snapshot s >= t read the clock
// after it was raised past t - 1, hence after those locks. So a word found
// unlocked with version <= s shows every write of that commit, and a commit
// that locks an orec after someone recorded version v there stamps it above v
// (v <= clock <= t - 1 by recorded-below-clock): a word changed after a
// transaction read it always carries a version other than the one recorded.
//
// Memory model. The clock argument compares *two* locations — an orec and the
// clock — written by different threads, the store-buffering shape:
//
//   committer C                         reader R (extension, validation)
//   C1  lock orec x      (RMW)          R1  raise / read the clock
//   C2  read the clock   -> stamp       R2  load orec x
//
// The proof needs "C2 reads the clock before R1's raise, or R2 sees C1's
// lock". Acquire/release cannot give that: with an acquire R2, C2 and R2 may
// both read the old values (a lost update or a torn snapshot on POWER/ARM).
// With all four sequentially consistent they lie in the single total order S
// of seq_cst operations (C++20 [atomics.order], which agrees with program
// order): if C2 precedes R1 in S then C1 < C2 < R1 < R2 and R2, a seq_cst load,
// reads C1's lock or a later value of x; otherwise R1 < C2 and C2 reads the
// raised clock (or later), so t - 1 >= R's snapshot and the commit is stamped
// above it. The same shape with two committers (each locks its writes, then
// validates the other's word) forbids write skew at commit-time validation,
// and with a waiter (retry_wait.cpp, INVARIANT no-lost-wakeup) forbids a lost
// wake-up. The named orders and helpers below are the only way the engine
// does these accesses; tests/stm/litmus_test.cpp model-checks the shapes
// under the C++ (RC11) model with exactly these orders, and shows acquire
// loads fail them. On x86-64 a seq_cst load is a plain load and the lock CAS
// a locked instruction either way: the orders cost nothing there.
#pragma once

#include <atomic>
#include <cassert>
#include <cstdint>

#include "stm/orec_table.hpp"

namespace optimist::detail {

// Every access to the clock (snapshot reads, raises, stamps, ticks).
inline constexpr std::memory_order clock_order = std::memory_order_seq_cst;
// Orec loads that must be ordered after this thread's preceding clock access:
// the first load of a transactional read, every validation load.
inline constexpr std::memory_order orec_check_order = std::memory_order_seq_cst;
// A committer's lock CAS, ordered before the clock read that gives its stamp.
inline constexpr std::memory_order orec_lock_order = std::memory_order_seq_cst;
// The unlock that publishes a commit (readers acquire it; INVARIANT
// atomic-writeback is the release fence before the data stores).
inline constexpr std::memory_order orec_unlock_order = std::memory_order_release;

struct alignas(64) global_clock {
  std::atomic<std::uint64_t> now{0};
  char padding[64 - sizeof(std::atomic<std::uint64_t>)];
};

inline global_clock g_clock;

// The current time, as a start snapshot.
inline std::uint64_t clock_now() noexcept {
  return g_clock.now.load(clock_order);
}

// Raises the clock to at least `version` and returns the time now (>= version).
inline std::uint64_t clock_raise_to(std::uint64_t version) noexcept {
  std::uint64_t now = g_clock.now.load(clock_order);
  while (now < version && !g_clock.now.compare_exchange_weak(now, version, clock_order)) {
  }
  return now < version ? version : now;
}

// orec_load_checked(lock)
//   Loads an orec after a clock access of this thread, for INVARIANT
//   clock-order: the first load of a read, and every validation load.
inline std::uint64_t orec_load_checked(const orec& lock) noexcept {
  return lock.load(orec_check_order);
}

// orec_try_lock(lock, expected, locked)
//   A committer's lock CAS (strong enough for clock-order: the stamp read
//   that follows cannot move before it). On failure `expected` is reloaded.
inline bool orec_try_lock(orec& lock, std::uint64_t& expected, std::uint64_t locked) noexcept {
  return lock.compare_exchange_weak(expected, locked, orec_lock_order, std::memory_order_relaxed);
}

// What a commit did, for commit_stamp().
struct commit_effects {
  bool wrote = false;    // changed shared words; all their orecs are locked now
  bool deleted = false;  // retires objects at the stamp (INVARIANT reclaim-safe)
  bool unique = false;   // needs a stamp of its own (commit tracing)
};

// commit_stamp(effects)
//   The one timestamp function of every commit path: software and irrevocable
//   commits, hardware commits (the stamp inside the transaction, the deletion
//   stamp after XEND), accesses and deletions outside a transaction. A writer
//   calls it after all its locks are held (clock-order).
//   - deleted or unique: a tick. The clock moves on, and the stamp is above
//     every version recorded before the call and above the start time of
//     every transaction running at the call (its active_since <= clock):
//     objects retired at it outlive them all. Ticks are distinct from each
//     other; a shared stamp taken just before may equal one.
//   - wrote: clock + 1, the clock unchanged — shared with other commits, and
//     possibly equal to the orec's current version (recorded-below-clock
//     makes that harmless).
//   - neither: the current time; nothing is stamped, nothing retired.
inline std::uint64_t commit_stamp(commit_effects effects) noexcept {
  if (effects.deleted || effects.unique) return g_clock.now.fetch_add(1, clock_order) + 1;
  const std::uint64_t now = clock_now();
  return effects.wrote ? now + 1 : now;
}

// The shared clock of a process-shared durable store (INVARIANT two-clocks,
// orec_table.hpp): the same accesses, on the clock in the store's sidecar.
// shared_clock_now() is 0 while no shared store is open.
inline std::uint64_t shared_clock_now() noexcept {
  if (!g_shared_orecs.active.load(std::memory_order_acquire)) return 0;
  return g_shared_orecs.clock->load(clock_order);
}
inline std::uint64_t shared_clock_raise_to(std::uint64_t version) noexcept {
  std::atomic<std::uint64_t>& clock = *g_shared_orecs.clock;
  std::uint64_t now = clock.load(clock_order);
  while (now < version && !clock.compare_exchange_weak(now, version, clock_order)) {
  }
  return now < version ? version : now;
}
// A writing commit's stamp for its shared orecs (after all its locks): the
// shared clock + 1, the clock unchanged, as commit_stamp({.wrote = true}).
inline std::uint64_t shared_commit_stamp() noexcept {
  return g_shared_orecs.clock->load(clock_order) + 1;
}

// assert_recordable(version)
//   Debug builds: INVARIANT recorded-below-clock for a version about to be
//   recorded. (The clock only grows, so a later check cannot fail spuriously.)
inline void assert_recordable([[maybe_unused]] std::uint64_t version) noexcept {
  assert(version <= clock_now() &&
         "INVARIANT recorded-below-clock: raise the clock to a version before recording it");
}

}  // namespace optimist::detail
