// Sites of -fgnu-tm code: the return address of an _ITM_* call made into a
// source_location (file:line in function) that the reports quote.
//
// Cheap on the access path, because a transaction that records for a report
// names the site of every access: each return address gets a site record of
// its own, found through a per-thread direct-mapped cache (a hit: a few
// instructions, no call, no lock), made on a miss with placeholder fields
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
inline constexpr std::size_t itm_site_cache_slots = 256;

// The calling thread's cache (itm_site_cache_slots slots), created by its first
// miss; null before that and once the thread's storage is being destroyed.
[[gnu::tls_model("initial-exec")]] inline thread_local itm_site_slot* t_itm_site_cache = nullptr;

[[gnu::always_inline]] inline std::size_t itm_site_slot_of(std::uintptr_t pc) noexcept {
  return static_cast<std::size_t>((pc * 0x9E3779B97F4A7C15ull) >> 56);  // 256 slots
}

// The site of `return_address` if this thread's cache holds it. Calls nothing
// (the read barrier's leaf fast path uses it).
[[gnu::always_inline]] inline bool itm_cached_site(const void* return_address,
                                                   source_location& site) noexcept {
  const auto pc = reinterpret_cast<std::uintptr_t>(return_address);
  const itm_site_slot* cache = t_itm_site_cache;
  if (cache == nullptr) return false;
  const itm_site_slot& slot = cache[itm_site_slot_of(pc)];
  if (slot.pc != pc) return false;
  site = slot.site;
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
