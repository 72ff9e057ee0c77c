// The redo log: the words a transaction has written, buffered until commit.
//
// One entry per aligned word, holding the bytes written so far (`mask` says
// which). Reads look here first so a transaction sees its own writes: a 64-bit
// Bloom filter answers "not written" in one instruction for most reads; past
// that, a small log is scanned and a larger one looked up in a hash index, so
// a lookup or a write costs O(1) however many words the transaction rewrites
// (STAMP kmeans reads and rewrites 33 words per transaction; the filter is
// mostly ones there).
//
// The index: open addressing with linear probing, built once the log passes
// `linear_limit` entries, at most half full. Each slot carries the generation
// it was filled in; a slot of an older generation is empty. So clearing the
// log (every commit and abort) empties the index by bumping the generation —
// O(1), the table keeps its memory for the next transaction — and zeroes the
// table only when the 32-bit generation wraps.
//
// Closed nesting: a nested block records a mark; an overwrite of an entry that
// existed before the mark saves the old contents in an undo list, so rolling
// the nested block back restores exactly the outer block's log (the filter
// and the index are rebuilt from the entries that remain: rollback is rare).
//
// INVARIANT (one-entry-per-word): no two entries name the same word; commit
// relies on it to lock and write back each word once.
// INVARIANT (index-complete): while `indexed_`, every entry i has exactly one
// slot of the current generation holding i, reachable from its home slot
// without crossing a slot of another generation; no other slot has the
// current generation.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "optimist/source_location.hpp"

namespace optimist::detail {

struct write_entry {
  std::uintptr_t word;
  std::uint64_t value;  // selected bytes only; others zero
  std::uint64_t mask;
  source_location site;
};

// The entries: a buffer whose append, with room left, is a few stores
// inlined into the write barrier (std::vector's push_back keeps an
// out-of-line growth call there).
class write_entry_buffer {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  write_entry* data() noexcept { return entries_.get(); }
  const write_entry* data() const noexcept { return entries_.get(); }
  write_entry& operator[](std::size_t i) noexcept { return entries_[i]; }
  const write_entry& operator[](std::size_t i) const noexcept { return entries_[i]; }
  const write_entry* begin() const noexcept { return entries_.get(); }
  const write_entry* end() const noexcept { return entries_.get() + size_; }
  // Requires size() < capacity().
  void push_unchecked(const write_entry& e) noexcept { entries_[size_++] = e; }
  void shrink_to(std::size_t n) noexcept { size_ = n; }  // n <= size()
  void clear() noexcept { size_ = 0; }
  // Frees the buffer (the buffer is empty).
  void release() noexcept {
    entries_.reset();
    size_ = 0;
    capacity_ = 0;
  }
  // Room for `n` entries; may throw std::bad_alloc (then nothing changed).
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    auto larger = std::make_unique<write_entry[]>(n);
    std::copy(entries_.get(), entries_.get() + size_, larger.get());
    entries_ = std::move(larger);
    capacity_ = n;
  }

 private:
  std::unique_ptr<write_entry[]> entries_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
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
    if (!indexed_) {
      for (const write_entry& e : entries_)
        if (e.word == word) return &e;
      return nullptr;
    }
    return find_indexed(word);
  }

  // Records that the bytes `mask` of `word` now hold `value` (merged with what
  // was written before). Throws std::bad_alloc with the log unchanged.
  [[gnu::always_inline]] void put(std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                                  source_location site) {
    if (!try_put(word, value, mask, site)) put_slow(word, value, mask, site);
  }

  // put's fast paths, which never call out: true if done; false: nothing
  // changed, put_slow does it. Room in entries_ (no allocation), no testing
  // limit. A word already in the log and written at this nesting level is
  // merged in place; a new word is appended (to a small log, or to an indexed
  // one whose table stays at most half full).
  // try_put_small is the same for a log that is not indexed (false for one
  // that is): fewer registers, so the engine's write barrier, which uses it,
  // stays a leaf without a stack frame (barriers.cpp).
  [[gnu::always_inline]] bool try_put(std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                                      source_location site) noexcept {
    const std::size_t n = entries_.size();
    if (n < entries_.capacity() && !entry_limit_set_.load(std::memory_order_relaxed)) {
      if (!indexed_) {
        return try_put_small(word, value, mask, site);
      } else if ((n + 1) * 2 <= slot_mask_ + 1) {
        // One probe finds the word's entry or the empty slot it goes in.
        for (std::size_t s = home_slot(word);; s = (s + 1) & slot_mask_) {
          slot& x = slots_[s];
          if (x.generation != generation_) {
            x = {generation_, static_cast<std::uint32_t>(n)};
            entries_.push_unchecked({word, value & mask, mask, site});  // n < capacity: no throw
            bloom_ |= bloom_bit(word);
            return true;
          }
          if (entries_[x.entry].word == word) {
            if (x.entry < floor_) break;  // put_slow saves it for rollback
            merge(entries_[x.entry], value, mask, site);
            return true;
          }
        }
      }
    }
    return false;
  }
  [[gnu::always_inline]] bool try_put_small(std::uintptr_t word, std::uint64_t value,
                                            std::uint64_t mask, source_location site) noexcept {
    const std::size_t n = entries_.size();
    if (n >= entries_.capacity() || indexed_ || entry_limit_set_.load(std::memory_order_relaxed))
      return false;
    std::size_t i = n;  // the word's entry, or n
    if (may_contain(word)) {
      i = 0;
      while (i < n && entries_[i].word != word) ++i;
    }
    if (i < n) {
      if (i < floor_) return false;  // put_slow saves it for rollback
      merge(entries_[i], value, mask, site);
      return true;
    }
    if (n >= linear_limit) return false;
    entries_.push_unchecked({word, value & mask, mask, site});
    bloom_ |= bloom_bit(word);
    return true;
  }

  // Nesting: entries that existed at the innermost open mark are saved before
  // being overwritten.
  mark open_nested() noexcept;
  void close_nested(const mark& outer) noexcept { floor_ = outer.entries; }
  void rollback_to(const mark& m) noexcept;

  void clear() noexcept {
    entries_.clear();
    if (!undo_.empty()) undo_.clear();
    bloom_ = 0;
    floor_ = 0;
    if (indexed_) drop_index();
  }

  // Frees the buffers if the entries' buffer holds more than `entries` (the
  // log is empty: cleared), leaving the log as a new one.
  void release_above(std::size_t entries) noexcept {
    if (entries_.capacity() <= entries || !entries_.empty()) return;
    entries_.release();
    std::vector<undo_entry>().swap(undo_);
    slots_.reset();
    slot_mask_ = 0;
    generation_ = 1;
  }

  // Test seams: a log that would grow past this many entries throws
  // std::bad_alloc, as if memory were exhausted; the index generation of this
  // log is set to `generation` (to reach the wrap-around quickly).
  static void set_entry_limit_for_testing(std::size_t limit) noexcept;
  void set_generation_for_testing(std::uint32_t generation) noexcept;
  // Whether lookups currently go through the index (past linear_limit).
  bool indexed_for_testing() const noexcept { return indexed_; }

  // Up to this many entries the log is scanned; past it, indexed.
  static constexpr std::size_t linear_limit = 16;

 private:
  struct undo_entry {
    std::size_t index;
    write_entry previous;
  };
  struct slot {
    std::uint32_t generation;  // empty unless == generation_
    std::uint32_t entry;       // index into entries_
  };

  static std::uint64_t bloom_bit(std::uintptr_t word) noexcept {
    return std::uint64_t{1} << ((word >> 3) & 63);
  }
  std::size_t home_slot(std::uintptr_t word) const noexcept {
    return static_cast<std::size_t>(((word >> 3) * 0x9E3779B97F4A7C15ull) >> 32) & slot_mask_;
  }
  const write_entry* find_indexed(std::uintptr_t word) const noexcept {
    for (std::size_t s = home_slot(word);; s = (s + 1) & slot_mask_) {
      const slot& x = slots_[s];
      if (x.generation != generation_) return nullptr;
      if (entries_[x.entry].word == word) return &entries_[x.entry];
    }
  }
  static void merge(write_entry& e, std::uint64_t value, std::uint64_t mask,
                    source_location site) noexcept {
    e.value = (e.value & ~mask) | (value & mask);
    e.mask |= mask;
    e.site = site;
  }
  void put_slow(std::uintptr_t word, std::uint64_t value, std::uint64_t mask, source_location site);
  void index_insert(std::size_t entry) noexcept;  // room guaranteed by the caller
  void build_index() noexcept;  // from entries_, in the current table (big enough)
  void drop_index() noexcept;   // empties the index in O(1)
  void rebuild_filters() noexcept;

  inline static std::atomic<bool> entry_limit_set_{false};  // set_entry_limit_for_testing was used

  write_entry_buffer entries_;
  std::vector<undo_entry> undo_;
  std::unique_ptr<slot[]> slots_;  // slot_mask_ + 1 slots, or none
  std::size_t slot_mask_ = 0;
  std::uint32_t generation_ = 1;  // slots are zeroed: generation 0 is never current
  bool indexed_ = false;
  std::uint64_t bloom_ = 0;
  std::size_t floor_ = 0;  // entries below this index belong to an enclosing nesting level
};

}  // namespace optimist::detail
