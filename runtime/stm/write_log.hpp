// The redo log: the words a transaction has written, buffered until commit.
//
// One entry per aligned word, holding the bytes written so far (`mask` says
// which). Reads look here first so a transaction sees its own writes: a 64-bit
// Bloom filter answers "not written" in one instruction for most reads, a
// linear scan serves small logs and a hash index large ones.
//
// Closed nesting: a nested block records a mark; an overwrite of an entry that
// existed before the mark saves the old contents in an undo list, so rolling
// the nested block back restores exactly the outer block's log.
//
// INVARIANT (one-entry-per-word): no two entries name the same word; commit
// relies on it to lock and write back each word once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "optimist/source_location.hpp"

namespace optimist::detail {

struct write_entry {
  std::uintptr_t word;
  std::uint64_t value;  // selected bytes only; others zero
  std::uint64_t mask;
  source_location site;
};

class write_log {
 public:
  struct mark {
    std::size_t entries;
    std::size_t undo;
  };

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  const write_entry* begin() const noexcept { return entries_.data(); }
  const write_entry* end() const noexcept { return entries_.data() + entries_.size(); }

  // False if `word` is certainly not in the log (one AND with the filter).
  bool may_contain(std::uintptr_t word) const noexcept { return (bloom_ & bloom_bit(word)) != 0; }

  // The entry for `word`, or nullptr.
  const write_entry* find(std::uintptr_t word) const noexcept {
    if ((bloom_ & bloom_bit(word)) == 0) return nullptr;
    return find_slow(word);
  }

  // Records that the bytes `mask` of `word` now hold `value` (merged with what
  // was written before). Throws std::bad_alloc with the log unchanged.
  void put(std::uintptr_t word, std::uint64_t value, std::uint64_t mask, source_location site) {
    // Fast path: a word not yet in a small log with room to spare (no index
    // to maintain, no allocation, no testing limit).
    const std::size_t n = entries_.size();
    if (!may_contain(word) && n < linear_limit && n < entries_.capacity() && index_.empty() &&
        !entry_limit_set_.load(std::memory_order_relaxed)) {
      entries_.push_back({word, value & mask, mask, site});
      bloom_ |= bloom_bit(word);
      return;
    }
    put_slow(word, value, mask, site);
  }

  // Nesting: entries that existed at the innermost open mark are saved before
  // being overwritten.
  mark open_nested() noexcept;
  void close_nested(const mark& outer) noexcept { floor_ = outer.entries; }
  void rollback_to(const mark& m) noexcept;

  void clear() noexcept;

  // Test seam: a log that would grow past this many entries throws
  // std::bad_alloc, as if memory were exhausted.
  static void set_entry_limit_for_testing(std::size_t limit) noexcept;

 private:
  struct undo_entry {
    std::size_t index;
    write_entry previous;
  };

  static std::uint64_t bloom_bit(std::uintptr_t word) noexcept {
    return std::uint64_t{1} << ((word >> 3) & 63);
  }
  const write_entry* find_slow(std::uintptr_t word) const noexcept;
  void put_slow(std::uintptr_t word, std::uint64_t value, std::uint64_t mask, source_location site);
  std::size_t index_slot(std::uintptr_t word) const noexcept;
  void rebuild_index();
  void rebuild_filters() noexcept;

  static constexpr std::size_t linear_limit = 16;
  inline static std::atomic<bool> entry_limit_set_{false};  // set_entry_limit_for_testing was used

  std::vector<write_entry> entries_;
  std::vector<undo_entry> undo_;
  std::vector<std::uint32_t> index_;  // entry index + 1; 0 = empty; used past linear_limit
  std::uint64_t bloom_ = 0;
  std::size_t floor_ = 0;  // entries below this index belong to an enclosing nesting level
};

}  // namespace optimist::detail
