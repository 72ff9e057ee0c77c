// Epoch-based reclamation of objects deleted by committed transactions.
//
// A transaction that started at time s may still hold a pointer it read
// before a commit at t > s unlinked the object; a transaction that started at
// s >= t cannot reach it any more (its snapshot already includes the unlink).
// So an object retired at t is destroyed once every running transaction
// started at or after t (INVARIANT reclaim-safe, transaction.hpp).
//
// Each descriptor publishes its start time in active_since before its first
// read, and the reclaimer scans them after the unlinking commit; a full fence
// between the two on each side makes sure that either the reclaimer sees the
// start time, or the starting transaction sees the unlink (orec-seqlock) and
// never obtains the pointer. The fences are asymmetric where Linux offers
// membarrier(2): transactions only stop the compiler from reordering, and the
// reclaimer — rare, batched — makes every running thread of the process
// execute a full barrier before it scans. Elsewhere both sides fence.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace optimist::detail {

class transaction;

// Queue `object` for destruction once no transaction started before
// `retired_at` is running. May reclaim older objects right away: once per
// batch of retirements (INVARIANT batched-fences, epoch_reclaimer.cpp).
void retire(transaction& tx, void* object, void (*destroy)(void*), std::uint64_t retired_at,
            std::size_t bytes);

// Destroys every retired object of this thread (and orphaned ones) that is
// safe to destroy now. Must be called outside a transaction.
void reclaim(transaction& tx);

// After a commit that destroyed its deletions at once (serial mode) and so
// retired nothing: drains the orphan list as retire() would once a batch of
// orphans has gathered (INVARIANT orphans-drained, epoch_reclaimer.cpp).
void drain_orphans_if_due(transaction& tx);

// Thread exit: moves what the thread could not reclaim to a shared list that
// later reclaim() calls of any thread drain.
void hand_over_retired(transaction& tx) noexcept;

// The smallest start time of a running transaction, and never above the
// clock at the start of the scan: objects retired at or below the answer can
// be destroyed (INVARIANT scan-covers-the-past, epoch_reclaimer.cpp).
std::uint64_t oldest_active_start() noexcept;
// For tests: called at the end of every scan of oldest_active_start(), before
// its answer is used (on the own list, then the orphan list).
inline void (*g_reclaim_scan_test_hook)() = nullptr;

// Set up the asymmetric fences (once per process; before the first transaction).
void prepare_reclamation() noexcept;
// True when transactions must fence after publishing their start time.
inline std::atomic<bool> g_start_needs_fence{true};

// What a transaction does between publishing its start time and its first read.
inline void start_fence() noexcept {
  if (g_start_needs_fence.load(std::memory_order_relaxed)) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the compiler must not reorder
  }
}

// The other half of start_fence(): every running thread of the process
// executes a full barrier (membarrier(2)), or, where transactions fence
// themselves, a full fence of the calling thread. Also the waiters' half of
// the serial commit's light barrier (retry_wait.cpp, W2).
void process_fence() noexcept;

// How many times reclamation has fenced every thread (membarrier(2), or a
// full fence where transactions fence themselves) since the process started.
// For tests and measurements (INVARIANT batched-fences, epoch_reclaimer.cpp).
std::uint64_t heavy_fence_count() noexcept;

// For tests: reclaim everything that is safe to reclaim now, from this thread.
void reclaim_now();

}  // namespace optimist::detail
