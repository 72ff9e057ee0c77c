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

#include "profile/site_key.hpp"
#include "stm/orec_table.hpp"

namespace optimist::detail {

struct orec_site_table {
  std::atomic<site_key> entries[orec_table_size];
};

inline orec_site_table g_orec_sites;

inline std::atomic<site_key>& site_of(const orec& lock) noexcept {
  return g_orec_sites.entries[static_cast<std::size_t>(&lock - g_orecs.entries)];
}

}  // namespace optimist::detail
