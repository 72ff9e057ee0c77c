// The one place where the STM engine calls into durable stores
// (runtime/durable). commit.cpp and barriers.cpp call these functions at the
// marked "DURABLE HOOK" lines; everything else about durability lives in this
// folder.
//
// INVARIANT (log-before-writeback): a commit that writes words of a durable
// heap calls before_writeback() after it has locked and validated (it can no
// longer abort) and before it writes anything back; in full durability that
// call returns only once the commit's redo record is on stable storage. So a
// heap word never holds a value whose record could still be lost.
#pragma once

#include <atomic>
#include <cstdint>

#include "optimist/detail/serial_access.hpp"

namespace optimist::detail {

class write_log;
struct lock_entry;

// g_durable_stores_open (optimist/detail/serial_access.hpp): non-zero while
// any durable store is open; the engine's only cost when no store is open is
// one relaxed load per writing commit.

inline bool durable_hook_active() noexcept {
  return g_durable_stores_open.load(std::memory_order_relaxed) != 0;
}

// Called by a writing commit, locks held, validated, nothing written back yet.
// Appends the redo record of the words that belong to a durable heap and (in
// full durability) waits until it is durable. Returns the store to pass to
// durable_after_writeback, or nullptr if the commit wrote no durable word.
// Throws (std::system_error, std::logic_error, optimist::durable::store_error)
// with nothing written back: the caller's rollback releases the locks.
void* durable_before_writeback(const write_log& writes);
// After the write-back, before unlocking: the record's words are now in the heap.
void durable_after_writeback(void* store) noexcept;
// True if `word` lies in an open durable heap (a store outside a transaction
// then runs as a one-word transaction, so that it is logged).
bool durable_covers(std::uintptr_t word) noexcept;

// Process-shared stores (runtime/durable/shared_store.cpp) — called only for
// orecs of the shared table (orec_table.hpp), on slow paths:
// A waiter gave up on `lock`, locked (`value`) by another process's
// committer for longer than a commit takes: if that process is dead, roll its
// logged commit forward and release its locks (INVARIANT dead-owner).
void durable_notice_stuck_lock(const std::atomic<std::uint64_t>& lock,
                               std::uint64_t value) noexcept;
// After a commit unlocked [first, last), some of them shared: wakes retry()
// waiters of other processes (INVARIANT no-lost-wakeup across processes).
void durable_shared_committed(const lock_entry* first, const lock_entry* last) noexcept;
// The inevitability token, extended to every process of the shared store
// (INVARIANT single-reserver across processes). Called by the token's holder
// after it took the process's token / before it releases it.
void durable_acquire_shared_token() noexcept;
void durable_release_shared_token() noexcept;

}  // namespace optimist::detail
