// The orec side table: for each orec, the site of the last write committed
// (or being committed) through it, left there by committers while reporting is
// on. A transaction aborted by that orec reads it to name the other side of
// the conflict, even when the writer has long committed.
//
// Relaxed accesses: the site is a hint for the report; a stale one is reported
// as it is and never affects what a transaction does.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "profile/site_key.hpp"
#include "stm/orec_table.hpp"

namespace optimist::detail {

struct orec_site_table {
  std::atomic<site_key> entries[orec_table_size];
};

inline orec_site_table g_orec_sites;

inline std::atomic<site_key>& site_of(const orec& lock) noexcept {
  // An orec of a process-shared store's table (orec_table.hpp) borrows the
  // entry its address hashes to: a hint either way.
  auto at = reinterpret_cast<std::uintptr_t>(&lock);
  auto first = reinterpret_cast<std::uintptr_t>(g_orecs.entries);
  std::size_t index = static_cast<std::size_t>((at - first) / sizeof(orec));
  if (index >= orec_table_size) index = (at / sizeof(orec)) & (orec_table_size - 1);
  return g_orec_sites.entries[index];
}

}  // namespace optimist::detail
