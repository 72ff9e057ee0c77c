// The read set: each orec a transaction has read through, with the version it
// saw and where in the user's code the read happened.
//
// INVARIANT (read-set-valid): at every point where the transaction acts on a
// value, every entry's orec still carries `version` (or is locked by this
// transaction at commit) — checked by validation whenever the snapshot moves.
// Every version added is at most the clock at that moment (INVARIANT
// recorded-below-clock, global_clock.hpp, asserted in debug builds), so any
// later commit to the orec leaves a different version.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "optimist/source_location.hpp"
#include "stm/global_clock.hpp"
#include "stm/orec_table.hpp"

namespace optimist::detail {

struct read_entry {
  orec* lock;
  std::uint64_t version;
  source_location site;
};

class read_set {
 public:
  read_set() = default;
  // Moves take the buffer and leave the source empty, with no buffer.
  read_set(read_set&& other) noexcept
      : entries_(std::move(other.entries_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  read_set& operator=(read_set&& other) noexcept {
    entries_ = std::move(other.entries_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  // Appends an entry; may throw std::bad_alloc (then nothing changed). The
  // common case — room left — is a compare and three stores, inlined into
  // the read barrier; growing is out of line.
  void add(orec* lock, std::uint64_t version, source_location site) {
    assert_recorded_below_clock(lock, version);
    if (size_ == capacity_) [[unlikely]]
      grow();
    entries_[size_++] = {lock, version, site};
  }
  // For a barrier that must not call out on its fast path (liboptimist_itm's):
  // check has_room() first, then append with add_with_room().
  bool has_room() const noexcept { return size_ != capacity_; }
  [[gnu::always_inline]] void add_with_room(orec* lock, std::uint64_t version,
                                            source_location site) noexcept {
    assert_recorded_below_clock(lock, version);
    entries_[size_++] = {lock, version, site};
  }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  const read_entry* begin() const noexcept { return entries_.get(); }
  const read_entry* end() const noexcept { return entries_.get() + size_; }
  void clear() noexcept { size_ = 0; }  // keeps the buffer for the next attempt
  std::size_t capacity() const noexcept { return capacity_; }
  // Frees the buffer if it holds more than `entries` (the set is empty).
  void release_above(std::size_t entries) noexcept {
    if (capacity_ <= entries || size_ != 0) return;
    entries_.reset();
    capacity_ = 0;
  }

 private:
  // INVARIANT recorded-below-clock (global_clock.hpp), checked against the orec's own clock
  // (a durable store shared by processes has its own). Debug builds only.
  static void assert_recorded_below_clock([[maybe_unused]] orec* lock,
                                          [[maybe_unused]] std::uint64_t version) noexcept {
#ifndef NDEBUG
    if (is_shared_orec(lock)) {
      assert(version <= shared_clock_now() && "INVARIANT recorded-below-clock (shared clock)");
    } else {
      assert_recordable(version);
    }
#endif
  }

  [[gnu::noinline]] void grow() {
    const std::size_t capacity = capacity_ == 0 ? 64 : 2 * capacity_;
    auto larger = std::make_unique<read_entry[]>(capacity);  // may throw: nothing changed yet
    std::copy(entries_.get(), entries_.get() + size_, larger.get());
    entries_ = std::move(larger);
    capacity_ = capacity;
  }

  std::unique_ptr<read_entry[]> entries_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace optimist::detail
