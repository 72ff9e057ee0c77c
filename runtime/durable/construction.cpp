// Constructing heap objects: T is built in scratch memory, then copied into
// the heap through the STM, so that every byte is in the redo record.
//
// A constructor may assign tvar members (transactional writes, buffered in
// the write log under the scratch memory's addresses): the copy takes those
// words from the log, and the scratch memory lives until the transaction ends
// (the engine writes the log back to it at commit), then is freed: after the
// outermost commit by an on-commit action, on abort as an allocation of the
// attempt. Exactly one of the two runs on every path (a nested block that
// rolls back drops both its on-commit action and hands its allocations to the
// end of the transaction).
#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include "durable/durable_store.hpp"
#include "optimist/detail/engine.hpp"
#include "stm/transaction.hpp"

namespace optimist::durable::detail {

namespace {
void free_buffer(void* p) noexcept {
  ::operator delete (p, std::align_val_t{16});
}
}  // namespace

void* construction_buffer(std::size_t size) {
  optimist::detail::transaction* tx = optimist::detail::tls_current;
  if (tx == nullptr)
    throw std::logic_error("optimist::durable: construction outside a transaction");
  const std::size_t rounded = (size + 7) / 8 * 8;
  void* buffer = ::operator new (rounded, std::align_val_t{16});
  std::memset(buffer, 0, rounded);
  try {
    tx->on_commit.reserve(tx->on_commit.size() + 1);
    tx->allocations.push_back({buffer, &free_buffer, {}});
  } catch (...) {
    free_buffer(buffer);
    throw;
  }
  tx->on_commit.emplace_back([buffer] { free_buffer(buffer); });
  return buffer;
}

void write_constructed(store_impl& s, std::uint64_t offset, const void* buffer, std::size_t size,
                       bool zeroed, source_location site) {
  optimist::detail::transaction* tx = optimist::detail::tls_current;
  const auto* from = static_cast<const unsigned char*>(buffer);
  for (std::size_t at = 0; at < size; at += 8) {
    const std::size_t n = std::min<std::size_t>(8, size - at);
    std::uint64_t word = 0;
    std::memcpy(&word, from + at, n);
    if (const optimist::detail::write_entry* e =
            tx->writes.find(reinterpret_cast<std::uintptr_t>(from + at))) {
      word = (word & ~e->mask) | (e->value & e->mask);  // a tvar assignment in the constructor
    }
    if (zeroed && word == 0) continue;  // a large zero-initialised object costs no log space
    optimist::detail::write_bytes(s.base + offset + at, n, &word, site);
  }
}

}  // namespace optimist::durable::detail
