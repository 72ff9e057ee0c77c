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
inline const transaction* orec_owner(std::uint64_t v) noexcept {
  return reinterpret_cast<const transaction*>(v & ~std::uint64_t{0b11});
}

inline constexpr unsigned orec_table_log2_size = 20;
inline constexpr std::size_t orec_table_size = std::size_t{1} << orec_table_log2_size;

struct orec_table {
  alignas(64) orec entries[orec_table_size];
};

inline orec_table g_orecs;  // zero: every word unlocked at version 0

inline orec& orec_for(std::uintptr_t word) noexcept {
  return g_orecs.entries[(word >> 3) & (orec_table_size - 1)];
}

}  // namespace optimist::detail
