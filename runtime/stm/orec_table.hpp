// The ownership-record (orec) table: one versioned lock per hash bucket of
// aligned 8-byte words. Conflicts are detected per orec, so two words share a
// conflict only when their addresses are a multiple of the table size apart.
//
// An orec word is one of
//   unlocked:  version << 2               the version is the commit timestamp
//   reserved:  version << 2 | 0b10        held by the one inevitable transaction:
//                                          readers ignore the bit, committers may
//                                          not lock it
//   locked:    owner-descriptor | 0b01    a committer is writing the word back
//
// INVARIANT (orec-seqlock): the words covered by an orec change only while it
// is locked. Its version does NOT always grow: under the lazy clock a commit
// stamps clock + 1 without moving the clock, so the next commit to the orec
// may stamp the same version again (global_clock.hpp). What holds instead is
// that a commit locking the orec after someone recorded version v there stamps
// it above v, provided v was at most the clock when it was recorded (INVARIANT
// recorded-below-clock, asserted in debug builds where versions are recorded).
// Readers therefore read orec (seq_cst, orec_load_checked), data (relaxed),
// fence (acquire), orec again; equal versions mean the data belongs to that
// version once the clock has reached it — a reader that meets a version above
// its snapshot raises the clock first and reads again (barriers.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace optimist::detail {

class transaction;

using orec = std::atomic<std::uint64_t>;

inline constexpr std::uint64_t orec_locked_bit = 0b01;
inline constexpr std::uint64_t orec_reserved_bit = 0b10;

inline bool orec_is_locked(std::uint64_t v) noexcept {
  return (v & orec_locked_bit) != 0;
}
inline bool orec_is_reserved(std::uint64_t v) noexcept {
  return (v & orec_reserved_bit) != 0;
}
// Only meaningful when the orec is not locked.
inline std::uint64_t orec_version(std::uint64_t v) noexcept {
  return v >> 2;
}
inline std::uint64_t orec_make_version(std::uint64_t version) noexcept {
  return version << 2;
}
inline std::uint64_t orec_make_locked(const transaction* owner) noexcept {
  return reinterpret_cast<std::uintptr_t>(owner) | orec_locked_bit;
}
// The top byte of a locked orec of a process-shared store (below) names the
// locking process's slot; it is 0 in this process's own table.
inline constexpr std::uint64_t orec_process_tag_mask = std::uint64_t{0xFF} << 56;
inline const transaction* orec_owner(std::uint64_t v) noexcept {
  return reinterpret_cast<const transaction*>(v & ~(std::uint64_t{0b11} | orec_process_tag_mask));
}

inline constexpr unsigned orec_table_log2_size = 20;
inline constexpr std::size_t orec_table_size = std::size_t{1} << orec_table_log2_size;

struct orec_table {
  alignas(64) orec entries[orec_table_size];
};

inline orec_table g_orecs;  // zero: every word unlocked at version 0

// The orecs of a durable heap that several processes share
// (runtime/durable/shared_store.cpp) live in a sidecar file every such process
// maps, indexed by heap offset rather than address, and carry versions of the
// store's shared clock (not g_clock). At most one shared store is open in a
// process; while it is, `active` is set and orec_for() sends the heap's words
// there.
//
// INVARIANT (two-clocks): a shared orec's version comes from the shared clock,
// every other orec's from g_clock. A transaction keeps one snapshot per clock
// (snapshot, shared_snapshot); a read is checked against the snapshot of its
// orec's clock, and every snapshot move (start, extension) reads *both* clocks
// before it validates the whole read set. A commit takes all its locks, in both
// tables, before it reads either clock for its stamps. With that, the argument
// of INVARIANT clock-order (global_clock.hpp) holds for each clock on its own,
// and a commit C that wrote words under both clocks is seen whole or not at
// all: a reader that accepted one of C's words at a version <= its snapshot
// read that clock after C's locks, and every orec load it makes afterwards
// (later reads, and the validation that follows every snapshot move) comes
// after those locks too. Validation compares versions orec by orec, so it is
// clock-agnostic.
struct shared_orec_map {
  std::atomic<bool> active{false};
  // Written before `active` is set (release), unchanged while it is.
  std::uintptr_t heap_begin = 0;  // first word with a shared orec (the heap's first page after
  std::uintptr_t heap_end = 0;    //   the store header) and one past the heap
  std::uintptr_t heap_base = 0;   // offsets are from here
  orec* table = nullptr;
  std::size_t mask = 0;  // table size - 1
  std::atomic<std::uint64_t>* clock = nullptr;
  std::uint64_t tag = 0;  // this process's slot, as it appears in a locked shared orec
};

inline shared_orec_map g_shared_orecs;

inline bool shared_orecs_active() noexcept {
  return g_shared_orecs.active.load(std::memory_order_relaxed);
}

inline orec& local_orec_for(std::uintptr_t word) noexcept {
  return g_orecs.entries[(word >> 3) & (orec_table_size - 1)];
}

// True if `lock` lies in the shared table (only while a shared store is open).
inline bool is_shared_orec(const orec* lock) noexcept {
  if (!shared_orecs_active()) return false;
  const shared_orec_map& m = g_shared_orecs;
  auto at = reinterpret_cast<std::uintptr_t>(lock);
  auto first = reinterpret_cast<std::uintptr_t>(m.table);
  return at - first < (m.mask + 1) * sizeof(orec);
}

[[gnu::cold]] inline orec& shared_or_local_orec_for(std::uintptr_t word) noexcept {
  const shared_orec_map& m = g_shared_orecs;
  if (m.active.load(std::memory_order_acquire) && word >= m.heap_begin && word < m.heap_end) {
    return m.table[((word - m.heap_base) >> 3) & m.mask];
  }
  return local_orec_for(word);
}

// The orec of `word`: one relaxed load and a branch more than a plain table
// lookup while no shared store is open.
inline orec& orec_for(std::uintptr_t word) noexcept {
  if (shared_orecs_active()) [[unlikely]]
    return shared_or_local_orec_for(word);
  return local_orec_for(word);
}

// The locked value `owner` writes into `lock`.
inline std::uint64_t orec_locked_value(const orec& lock, const transaction* owner) noexcept {
  std::uint64_t v = orec_make_locked(owner);
  return is_shared_orec(&lock) ? v | g_shared_orecs.tag : v;
}

// True if `v` is a lock held by `owner` (of this process).
inline bool orec_owned_by(std::uint64_t v, const transaction* owner) noexcept {
  const std::uint64_t tag = v & orec_process_tag_mask;
  return orec_owner(v) == owner && (tag == 0 || tag == g_shared_orecs.tag);
}

}  // namespace optimist::detail
