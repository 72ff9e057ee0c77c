// Sites of -fgnu-tm code: the return address of an _ITM_* call made into a
// source_location (file:line in function) that the reports quote.
//
// Cheap on the access path, because a transaction that records for a report
// names the site of every access: each return address gets a site record of
// its own, found through a per-thread cache, two-way set-associative (a hit: a
// few instructions, no call, no lock; 1024 entries: a -fgnu-tm program's hot
// sites are a few hundred call instructions at most), made on a miss with placeholder fields
// under a lock. The records are symbolized late — file:line from the
// program's debug information (libbacktrace), else "<module>+0x<offset>"
// with the nearest symbol — all of those made so far at once, when a report
// first reads a site (INVARIANT deferred-site-resolved, profile/recorder.hpp:
// a conflict being recorded, a report being built). So a program pays for
// symbolizing only when it has something to report, once per address.
#pragma once

#include <cstddef>
#include <cstdint>

#include "optimist/source_location.hpp"

namespace optimist::detail {

struct itm_site_slot {
  std::uintptr_t pc;  // 0: empty (no call returns to address 0)
  source_location site;
};
// A set: the most recently filled way first (a miss moves way 0 to way 1).
struct itm_site_set {
  itm_site_slot way[2];
};
inline constexpr unsigned itm_site_cache_bits = 9;
inline constexpr std::size_t itm_site_cache_sets = std::size_t{1} << itm_site_cache_bits;

// The calling thread's cache (itm_site_cache_sets sets), created by its first
// miss; null before that and once the thread's storage is being destroyed.
[[gnu::tls_model("initial-exec")]] inline thread_local itm_site_set* t_itm_site_cache = nullptr;

[[gnu::always_inline]] inline std::size_t itm_site_set_of(std::uintptr_t pc) noexcept {
  return static_cast<std::size_t>((pc * 0x9E3779B97F4A7C15ull) >> (64 - itm_site_cache_bits));
}

// The site of `return_address` if this thread's cache holds it. Calls nothing
// (the read barrier's leaf fast path uses it).
[[gnu::always_inline]] inline bool itm_cached_site(const void* return_address,
                                                   source_location& site) noexcept {
  const auto pc = reinterpret_cast<std::uintptr_t>(return_address);
  const itm_site_set* cache = t_itm_site_cache;
  if (cache == nullptr) return false;
  const itm_site_set& set = cache[itm_site_set_of(pc)];
  if (set.way[0].pc == pc) [[likely]] {
    site = set.way[0].site;
    return true;
  }
  if (set.way[1].pc != pc) return false;
  site = set.way[1].site;
  return true;
}

// A miss: the address's record (made if it is the first time), put in the
// cache. Never throws (an empty location when out of memory).
source_location itm_site_miss(const void* return_address) noexcept;

// The site of the instruction that called at `return_address`.
[[gnu::always_inline]] inline source_location itm_site(const void* return_address) noexcept {
  source_location site;
  if (itm_cached_site(return_address, site)) [[likely]]
    return site;
  return itm_site_miss(return_address);
}

}  // namespace optimist::detail
