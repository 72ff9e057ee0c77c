// Epoch-based reclamation of objects deleted by committed transactions.
//
// A transaction that started at time s may still hold a pointer it read
// before a commit at t > s unlinked the object; a transaction that started at
// s >= t cannot reach it any more (its snapshot already includes the unlink).
// So an object retired at t is destroyed once every running transaction
// started at or after t (INVARIANT reclaim-safe, transaction.hpp).
//
// Each descriptor publishes its start time in active_since, followed by a
// sequentially consistent fence before its first read; the reclaimer fences
// before scanning. Either the reclaimer sees the start time, or the starting
// transaction sees the unlink (orec-seqlock) and never obtains the pointer.
#pragma once

#include <cstdint>

namespace optimist::detail {

class transaction;

// Queue `object` for destruction once no transaction started before
// `retired_at` is running. May reclaim older objects right away.
void retire(transaction& tx, void* object, void (*destroy)(void*), std::uint64_t retired_at);

// Destroys every retired object of this thread (and orphaned ones) that is
// safe to destroy now. Must be called outside a transaction.
void reclaim(transaction& tx);

// Thread exit: moves what the thread could not reclaim to a shared list that
// later reclaim() calls of any thread drain.
void hand_over_retired(transaction& tx) noexcept;

// The smallest start time of a running transaction (not_active if none).
std::uint64_t oldest_active_start() noexcept;

// For tests: reclaim everything that is safe to reclaim now, from this thread.
void reclaim_now();

}  // namespace optimist::detail
