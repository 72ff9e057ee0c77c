// c_site: source locations made at run time from a C caller's site.
//
// With GCC's std::source_location a location is one pointer to a static
// record (file, function, line, column) that only __builtin_source_location
// can make, so conflict sites are keyed by that pointer (profile/site_key.hpp).
// For C sites we make the records ourselves, once per distinct site, and never
// free them: INVARIANT (site-records-live-forever) — a site key may sit in an
// orec's side table or a report until the process ends.
//
// The record type and the pointer member are private to std::source_location.
// An explicit instantiation may name private members ([temp.spec.general]),
// so the instantiation below hands &source_location::_M_impl to a friend
// function whose signature names no private type; build() deduces the record
// type from the member pointer. No layout is assumed.
//
// With the clang 14 stand-in (include/optimist/source_location.hpp) current()
// takes the fields as arguments, and pack_site() interns them itself.
#include "capi/c_site.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <tuple>
#include <unordered_map>

namespace optimist::detail {

#if defined(__cpp_lib_source_location)

namespace {

template <class Record>
source_location build(const Record* source_location::*record, const char* file,
                      const char* function, unsigned line) {
  source_location result;
  result.*record = new Record{file, function, line, 0};
  return result;
}

template <class Record>
void fill(const Record* source_location::*record, source_location site, const char* file,
          const char* function, unsigned line) {
  // The record was made by build() with new, so it is not a const object.
  *const_cast<Record*>(site.*record) = Record{file, function, line, 0};
}

struct record_member_tag {};
source_location make_location(record_member_tag, const char* file, const char* function,
                              unsigned line);
void fill_location(record_member_tag, source_location site, const char* file, const char* function,
                   unsigned line);

template <class Member, Member Pointer>
struct record_member_exposer {
  friend source_location make_location(record_member_tag, const char* file, const char* function,
                                       unsigned line) {
    return build(Pointer, file, function, line);
  }
  friend void fill_location(record_member_tag, source_location site, const char* file,
                            const char* function, unsigned line) {
    fill(Pointer, site, file, function, line);
  }
};
template struct record_member_exposer<decltype(&source_location::_M_impl),
                                      &source_location::_M_impl>;

struct site_fields {
  const char* file;
  const char* function;
  int line;
  bool operator==(const site_fields&) const = default;
};

struct site_fields_hash {
  std::size_t operator()(const site_fields& s) const noexcept {
    std::uint64_t h = reinterpret_cast<std::uintptr_t>(s.file) * 0x9E3779B97F4A7C15ull;
    h ^= reinterpret_cast<std::uintptr_t>(s.function) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= static_cast<std::uint64_t>(static_cast<unsigned>(s.line)) * 0xD6E8FEB86659FD93ull;
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
};

// Every site made so far (INVARIANT site-records-live-forever: never erased).
std::mutex g_sites_mutex;
std::unordered_map<site_fields, source_location, site_fields_hash>& all_sites() {
  static auto* sites = new std::unordered_map<site_fields, source_location, site_fields_hash>();
  return *sites;  // leaked on purpose: reports at exit still read it
}

source_location shared_site(const site_fields& key) {
  std::lock_guard<std::mutex> lock(g_sites_mutex);
  auto& sites = all_sites();
  auto found = sites.find(key);
  if (found != sites.end()) return found->second;
  source_location made =
      make_location(record_member_tag{}, key.file, key.function, static_cast<unsigned>(key.line));
  try {
    sites.emplace(key, made);
  } catch (...) {
    // Keep `made` (leaked, still valid); the next lookup makes another record.
  }
  return made;
}

// Per thread: the last sites seen, direct-mapped by hash.
constexpr std::size_t cache_slots = 64;
struct cached_site {
  site_fields key{nullptr, nullptr, 0};
  source_location site;
};
thread_local cached_site t_cache[cache_slots];

}  // namespace

source_location c_site(const char* file, int line, const char* function) noexcept {
  if (file == nullptr) return {};
  const site_fields key{file, function != nullptr ? function : "", line};
  cached_site& slot = t_cache[site_fields_hash{}(key) % cache_slots];
  if (slot.key == key) return slot.site;
  try {
    slot.site = shared_site(key);
  } catch (...) {
    return {};  // out of memory for the record
  }
  slot.key = key;
  return slot.site;
}

source_location make_site_record(const char* file, int line, const char* function) {
  return make_location(record_member_tag{}, file, function, static_cast<unsigned>(line));
}

void fill_site_record(source_location record, const char* file, int line,
                      const char* function) noexcept {
  fill_location(record_member_tag{}, record, file, function, static_cast<unsigned>(line));
}

#else

source_location c_site(const char* file, int line, const char* function) noexcept {
  if (file == nullptr) return {};
  return source_location::current(file, function != nullptr ? function : "",
                                  static_cast<std::uint_least32_t>(line));
}

#endif

}  // namespace optimist::detail
