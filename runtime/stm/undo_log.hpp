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

#include <cstddef>
#include <cstdint>
#include <vector>

#include "stm/word_memory.hpp"

namespace optimist::detail {

struct undo_entry {
  std::uintptr_t word;
  std::uint64_t old_value;  // the selected bytes before the write (others zero)
  std::uint64_t mask;
};

class undo_log {
 public:
  using mark = std::size_t;

  // Records the selected bytes of `word` as they are now; call before writing
  // them. May throw std::bad_alloc (then nothing was written yet).
  void record(std::uintptr_t word, std::uint64_t mask) {
    entries_.push_back({word, load_word(word, mask), mask});
  }

  mark position() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  const undo_entry* begin() const noexcept { return entries_.data(); }
  const undo_entry* end() const noexcept { return entries_.data() + entries_.size(); }

  // Restores memory to its state at `m` (INVARIANT undo-exact) and forgets
  // the entries after it.
  void rollback_to(mark m) noexcept {
    for (std::size_t i = entries_.size(); i > m; --i) {
      const undo_entry& e = entries_[i - 1];
      store_word(e.word, e.old_value, e.mask);
    }
    entries_.resize(m);
  }

  // The writes are kept (commit): forget the entries, keep the buffer.
  void clear() noexcept { entries_.clear(); }

 private:
  std::vector<undo_entry> entries_;
};

}  // namespace optimist::detail
