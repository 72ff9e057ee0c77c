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

namespace optimist::detail {

class write_log;

// Non-zero while any durable store is open: the engine's only cost when no
// store is open is one relaxed load per writing commit.
inline std::atomic<int> g_durable_stores_open{0};

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

}  // namespace optimist::detail
