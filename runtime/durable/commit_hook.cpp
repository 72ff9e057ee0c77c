// The engine's durable hook (commit_hook.hpp): turns a committing write log
// into a redo record for the store whose heap it writes.
#include "durable/commit_hook.hpp"

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "durable/durable_store.hpp"
#include "durable/fault_injection.hpp"
#include "durable/redo_log.hpp"
#include "stm/word_memory.hpp"
#include "stm/write_log.hpp"

namespace optimist::durable::detail {

namespace {
constexpr std::size_t max_open_stores = 16;
std::array<std::atomic<store_impl*>, max_open_stores> open_stores{};
std::mutex registry_mutex;
// Slots at or past this index have never been used: the scan stops there (one
// slot in the common case of one open store).
std::atomic<std::size_t> slots_used{0};

store_impl* store_covering(std::uintptr_t word) noexcept {
  const std::size_t used = slots_used.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < used; ++i) {
    store_impl* s = open_stores[i].load(std::memory_order_acquire);
    if (s != nullptr && s->covers(word)) return s;
  }
  return nullptr;
}

thread_local std::vector<unsigned char> record_buffer;
}  // namespace

void register_store(store_impl* s) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (std::size_t i = 0; i < max_open_stores; ++i) {
    if (open_stores[i].load(std::memory_order_relaxed) == nullptr) {
      open_stores[i].store(s, std::memory_order_release);
      if (slots_used.load(std::memory_order_relaxed) <= i) {
        slots_used.store(i + 1, std::memory_order_release);
      }
      optimist::detail::g_durable_stores_open.fetch_add(1, std::memory_order_release);
      return;
    }
  }
  throw_store_error(s->path, "too many durable stores open at once (at most " +
                                 std::to_string(max_open_stores) + ")");
}

void unregister_store(store_impl* s) noexcept {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (auto& slot : open_stores) {
    if (slot.load(std::memory_order_relaxed) == s) {
      slot.store(nullptr, std::memory_order_release);
      optimist::detail::g_durable_stores_open.fetch_sub(1, std::memory_order_release);
    }
  }
}

}  // namespace optimist::durable::detail

namespace optimist::detail {

using durable::detail::record_buffer;
using durable::detail::record_entry;
using durable::detail::record_header;
using durable::detail::store_impl;

void* durable_before_writeback(const write_log& writes) {
  store_impl* store = nullptr;
  std::vector<unsigned char>& record = record_buffer;
  record.resize(sizeof(record_header));
  std::uint32_t count = 0;
  for (const write_entry& e : writes) {
    store_impl* s =
        store != nullptr && store->covers(e.word) ? store : durable::detail::store_covering(e.word);
    if (s == nullptr) continue;
    if (store != nullptr && s != store) {
      throw std::logic_error("optimist::durable: one transaction wrote the heaps of two stores (" +
                             store->path + " and " + s->path +
                             "); a transaction may write one store only");
    }
    store = s;
    record_entry entry{e.word - reinterpret_cast<std::uintptr_t>(s->base), e.value, e.mask};
    std::size_t at = record.size();
    record.resize(at + sizeof entry);
    std::memcpy(record.data() + at, &entry, sizeof entry);
    ++count;
  }
  if (store == nullptr) return nullptr;
  record_header h{};
  h.count = count;
  std::memcpy(record.data(), &h, sizeof h);
  if (durable::detail::g_faults.write_back_before_sync.load(std::memory_order_relaxed)) {
    for (const write_entry& e : writes) {
      if (store->covers(e.word)) store_word(e.word, e.value, e.mask);  // negative control
    }
  }
  store->commit_record(record);
  if (store->private_mapping) {
    for (const write_entry& e : writes) {
      if (store->covers(e.word)) {
        store->mark_dirty(e.word - reinterpret_cast<std::uintptr_t>(store->base));
      }
    }
  }
  return store;
}

void durable_after_writeback(void* store) noexcept {
  static_cast<store_impl*>(store)->written_back();
}

bool durable_covers(std::uintptr_t word) noexcept {
  return durable::detail::store_covering(word) != nullptr;
}

}  // namespace optimist::detail
