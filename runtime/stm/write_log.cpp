#include "stm/write_log.hpp"

#include <atomic>
#include <limits>
#include <new>

namespace optimist::detail {

namespace {
std::atomic<std::size_t> g_entry_limit{std::numeric_limits<std::size_t>::max()};
}

void write_log::set_entry_limit_for_testing(std::size_t limit) noexcept {
  g_entry_limit.store(limit, std::memory_order_relaxed);
  entry_limit_set_.store(limit != std::numeric_limits<std::size_t>::max(),
                         std::memory_order_relaxed);
}

std::size_t write_log::index_slot(std::uintptr_t word) const noexcept {
  std::uint64_t h = (word >> 3) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(h >> 32) & (index_.size() - 1);
}

const write_entry* write_log::find_slow(std::uintptr_t word) const noexcept {
  if (index_.empty()) {
    for (const write_entry& e : entries_)
      if (e.word == word) return &e;
    return nullptr;
  }
  for (std::size_t slot = index_slot(word);; slot = (slot + 1) & (index_.size() - 1)) {
    std::uint32_t i = index_[slot];
    if (i == 0) return nullptr;
    if (entries_[i - 1].word == word) return &entries_[i - 1];
  }
}

void write_log::rebuild_index() {
  if (entries_.size() <= linear_limit) {
    index_.clear();
    return;
  }
  std::size_t capacity = 64;
  while (capacity < entries_.size() * 4) capacity *= 2;
  index_.assign(capacity, 0);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    std::size_t slot = index_slot(entries_[i].word);
    while (index_[slot] != 0) slot = (slot + 1) & (capacity - 1);
    index_[slot] = static_cast<std::uint32_t>(i + 1);
  }
}

void write_log::put_slow(std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                         source_location site) {
  if (const write_entry* found = find(word)) {
    auto* e = const_cast<write_entry*>(found);
    std::size_t index = static_cast<std::size_t>(e - entries_.data());
    if (index < floor_) undo_.push_back({index, *e});  // may throw: log still unchanged
    e->value = (e->value & ~mask) | (value & mask);
    e->mask |= mask;
    e->site = site;
    return;
  }
  if (entries_.size() >= g_entry_limit.load(std::memory_order_relaxed)) throw std::bad_alloc();
  entries_.push_back({word, value & mask, mask, site});
  try {
    if (entries_.size() > linear_limit && entries_.size() * 2 > index_.size()) {
      rebuild_index();
    } else if (!index_.empty()) {
      std::size_t slot = index_slot(word);
      while (index_[slot] != 0) slot = (slot + 1) & (index_.size() - 1);
      index_[slot] = static_cast<std::uint32_t>(entries_.size());
    }
  } catch (...) {
    entries_.pop_back();
    rebuild_filters();
    throw;
  }
  bloom_ |= bloom_bit(word);
}

write_log::mark write_log::open_nested() noexcept {
  mark outer{floor_, undo_.size()};
  floor_ = entries_.size();
  return outer;
}

void write_log::rollback_to(const mark& m) noexcept {
  // `floor_` is the size of the log when the nested level opened.
  for (std::size_t i = undo_.size(); i > m.undo; --i) {
    const undo_entry& u = undo_[i - 1];
    entries_[u.index] = u.previous;
  }
  undo_.resize(m.undo);
  entries_.resize(floor_);
  floor_ = m.entries;
  rebuild_filters();
}

void write_log::rebuild_filters() noexcept {
  bloom_ = 0;
  for (const write_entry& e : entries_) bloom_ |= bloom_bit(e.word);
  try {
    rebuild_index();
  } catch (...) {
    index_.clear();  // the linear scan stays correct without an index
  }
}

void write_log::clear() noexcept {
  entries_.clear();
  undo_.clear();
  if (!index_.empty()) index_.clear();
  bloom_ = 0;
  floor_ = 0;
}

}  // namespace optimist::detail
