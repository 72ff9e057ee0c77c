#include "stm/write_log.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <new>

namespace optimist::detail {

namespace {
std::atomic<std::size_t> g_entry_limit{std::numeric_limits<std::size_t>::max()};
constexpr std::size_t min_slots = 64;
}  // namespace

void write_log::set_entry_limit_for_testing(std::size_t limit) noexcept {
  g_entry_limit.store(limit, std::memory_order_relaxed);
  entry_limit_set_.store(limit != std::numeric_limits<std::size_t>::max(),
                         std::memory_order_relaxed);
}

void write_log::set_generation_for_testing(std::uint32_t generation) noexcept {
  clear();
  if (slots_) std::fill(slots_.get(), slots_.get() + slot_mask_ + 1, slot{0, 0});
  generation_ = generation == 0 ? 1 : generation;
}

void write_log::index_insert(std::size_t entry) noexcept {
  std::size_t s = home_slot(entries_[entry].word);
  while (slots_[s].generation == generation_) s = (s + 1) & slot_mask_;
  slots_[s] = {generation_, static_cast<std::uint32_t>(entry)};
}

void write_log::build_index() noexcept {
  for (std::size_t i = 0; i < entries_.size(); ++i) index_insert(i);
  indexed_ = true;
}

void write_log::drop_index() noexcept {
  indexed_ = false;
  if (++generation_ == 0) {
    // Wrapped: slots of every older generation might look current again.
    std::fill(slots_.get(), slots_.get() + slot_mask_ + 1, slot{0, 0});
    generation_ = 1;
  }
}

void write_log::put_slow(std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                         source_location site) {
  if (const write_entry* found = find(word)) {
    auto* e = const_cast<write_entry*>(found);
    std::size_t index = static_cast<std::size_t>(e - entries_.data());
    if (index < floor_) undo_.push_back({index, *e});  // may throw: log still unchanged
    merge(*e, value, mask, site);
    return;
  }
  const std::size_t n = entries_.size();
  if (n >= g_entry_limit.load(std::memory_order_relaxed)) throw std::bad_alloc();
  if (n >= std::numeric_limits<std::uint32_t>::max()) throw std::bad_alloc();  // slot.entry
  // Everything that may throw comes before the log changes: a table with room
  // for n + 1 entries at most half full (grown tables get the entries that are
  // indexed already), then room in entries_.
  if (n + 1 > linear_limit && (n + 1) * 2 > (slots_ ? slot_mask_ + 1 : 0)) {
    std::size_t size = std::max(min_slots, slots_ ? 2 * (slot_mask_ + 1) : min_slots);
    while ((n + 1) * 2 > size) size *= 2;
    std::unique_ptr<slot[]> larger(new slot[size]());  // generation 0: empty
    slots_ = std::move(larger);
    slot_mask_ = size - 1;
    if (indexed_) build_index();  // the new table holds nothing of the current generation
  }
  if (n == entries_.capacity()) entries_.reserve(n < 16 ? 16 : 2 * n);
  entries_.push_unchecked({word, value & mask, mask, site});
  if (indexed_) {
    index_insert(n);
  } else if (n + 1 > linear_limit) {
    build_index();
  }
  bloom_ |= bloom_bit(word);
}

write_log::mark write_log::open_nested() noexcept {
  mark outer{floor_, undo_.size()};
  floor_ = entries_.size();
  return outer;
}

void write_log::rollback_to(const mark& m) noexcept {
  // `floor_` is the size of the log when the nested level opened. Restored
  // entries keep their index slots (same word, same position).
  for (std::size_t i = undo_.size(); i > m.undo; --i) {
    const undo_entry& u = undo_[i - 1];
    entries_[u.index] = u.previous;
  }
  undo_.resize(m.undo);
  entries_.shrink_to(floor_);
  floor_ = m.entries;
  rebuild_filters();
}

void write_log::rebuild_filters() noexcept {
  bloom_ = 0;
  for (const write_entry& e : entries_) bloom_ |= bloom_bit(e.word);
  // The table held the larger log, so it has room for what is left.
  if (indexed_) drop_index();
  if (entries_.size() > linear_limit) build_index();
}

}  // namespace optimist::detail
