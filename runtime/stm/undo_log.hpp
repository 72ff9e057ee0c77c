// The undo log of serial mode (runtime/stm/serial_mode.cpp): a serial block
// writes memory in place, so before each write it records the bytes it is
// about to overwrite. Rolling back replays the entries newest first, which
// restores every byte to what it held when the block (or a nested level)
// began, however often it was written in between.
//
// INVARIANT (undo-exact): entries [0, size()) hold, for each in-place write of
// the running serial attempt in program order, the selected bytes the word
// held just before that write. So undoing from the end down to a mark leaves
// memory exactly as it was when the mark was taken.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "optimist/detail/serial_access.hpp"
#include "stm/word_memory.hpp"

namespace optimist::detail {

// The class (and undo_entry) is declared in optimist/detail/serial_access.hpp,
// where the inline write barrier records full words; the rest is here.

// Records the selected bytes of `word` as they are now; call before writing
// them. May throw std::bad_alloc (then nothing was written yet).
inline void undo_log::record(std::uintptr_t word, std::uint64_t mask) {
  if (size_ == capacity_) [[unlikely]]
    grow();
  entries_[size_] = {word, load_word(word, mask), mask};
  ++size_;
}

// record() without growing: false (and nothing recorded) if the buffer is
// full. The serial write barrier's fast path (barriers.cpp).
inline bool undo_log::try_record(std::uintptr_t word, std::uint64_t mask) noexcept {
  if (size_ == capacity_) [[unlikely]]
    return false;
  entries_[size_] = {word, load_word(word, mask), mask};
  ++size_;
  return true;
}

// Restores memory to its state at `m` (INVARIANT undo-exact) and forgets
// the entries after it.
inline void undo_log::rollback_to(mark m) noexcept {
  for (std::size_t i = size_; i > m; --i) {
    const undo_entry& e = entries_[i - 1];
    store_word(e.word, e.old_value, e.mask);
  }
  if (m < size_) size_ = m;
}

// Restores memory to its state when the attempt began, like rollback_to(0),
// but leaves the entries (and size) alone: run by a thread that took the
// attempt over (give-way, serial_mode.hpp), which may read the log but not
// change it; the owner clears it afterwards.
inline void undo_log::replay_all() const noexcept {
  for (std::size_t i = size_; i > 0; --i) {
    const undo_entry& e = entries_[i - 1];
    store_word(e.word, e.old_value, e.mask);
  }
}

// Doubles the buffer (64 entries at first), keeping the entries.
[[gnu::noinline]] inline void undo_log::grow() {
  const std::size_t capacity = capacity_ == 0 ? 64 : 2 * capacity_;
  std::unique_ptr<undo_entry[]> larger(new undo_entry[capacity]);
  std::copy(entries_.get(), entries_.get() + size_, larger.get());
  entries_ = std::move(larger);
  capacity_ = capacity;
}

}  // namespace optimist::detail
