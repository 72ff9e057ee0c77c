// A source location squeezed into one 64-bit word, so that a committer can
// leave the site of its write in the orec side table with one relaxed store.
//
// With std::source_location (a single pointer to static data) the key is that
// pointer's bits. With the clang 14 stand-in (three fields) sites are interned
// in a table and the key is the index + 1; that path takes a lock and is
// slower, but runs only while reporting is on. Key 0 means "unknown".
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "optimist/source_location.hpp"

namespace optimist::detail {

using site_key = std::uint64_t;

#if defined(__cpp_lib_source_location)
static_assert(sizeof(source_location) == sizeof(site_key) &&
                  std::is_trivially_copyable_v<source_location>,
              "std::source_location is expected to be one pointer");
inline site_key pack_site(const source_location& site) noexcept {
  return std::bit_cast<site_key>(site);
}
inline source_location unpack_site(site_key key) noexcept {
  return std::bit_cast<source_location>(key);
}
#else
site_key pack_site(const source_location& site) noexcept;
source_location unpack_site(site_key key) noexcept;
#endif

}  // namespace optimist::detail
