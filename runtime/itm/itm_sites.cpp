// itm_site: return address -> site record, symbolized late (itm_sites.hpp)
// through libbacktrace (GCC's own symbolizer, shipped with GCC as a static PIC
// library), addresses when the program has no debug information. Records and
// names live for the life of the process (INVARIANT site-records-live-forever,
// capi/c_site.cpp).
//
// INVARIANT (deferred-site-resolved, profile/recorder.hpp), the itm side: a
// record is made with placeholder fields, added to the owned set and listed in
// g_pending, all under g_mutex, before it is handed out, and g_pending_count
// is raised (release); resolve_pending() fills every listed record under
// g_mutex, then sets g_pending_count to 0 (release). A reader calls
// resolve_pending() first: either it sees 0 (acquire) after the fill of every
// record it can name, or it takes g_mutex and fills them itself.
#include "itm/itm_sites.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#if __has_include(<backtrace.h>) && !defined(OPTIMIST_ITM_NO_BACKTRACE)
#include <backtrace.h>
#define OPTIMIST_ITM_BACKTRACE 1
#endif

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "capi/c_site.hpp"
#include "profile/recorder.hpp"

namespace optimist::detail {

namespace {

std::mutex g_mutex;
#if defined(OPTIMIST_ITM_BACKTRACE)
backtrace_state* g_state = nullptr;
#endif

// Under g_mutex: every record made, by return address.
std::unordered_map<std::uintptr_t, source_location>& records() {
  static auto* map = new std::unordered_map<std::uintptr_t, source_location>();
  return *map;
}

const char* intern(const std::string& text) {
  static auto* strings = new std::unordered_set<std::string>();
  return strings->insert(text).first->c_str();
}

struct site_text {
  const char* file;
  int line;
  const char* function;
};

struct pc_info {
  std::string file, function;
  int line = 0;
  bool found = false;
};

#if defined(OPTIMIST_ITM_BACKTRACE)
void ignore_error(void*, const char*, int) {}

int take_first(void* data, std::uintptr_t, const char* file, int line, const char* function) {
  auto* info = static_cast<pc_info*>(data);
  if (info->found || file == nullptr) return 0;
  info->file = file;
  info->line = line;
  info->function = function != nullptr ? function : "?";
  info->found = true;
  return 1;
}
#endif

// libbacktrace names an inlined function by its linkage name: C++ names come
// mangled.
std::string demangled(const std::string& name) {
  if (name.rfind("_Z", 0) != 0) return name;
  int status = 0;
  char* text = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (text == nullptr) return name;
  std::string result(text);
  std::free(text);
  return result;
}

// Under g_mutex. Throws std::bad_alloc.
site_text symbolize(std::uintptr_t pc) {
  pc_info info;
#if defined(OPTIMIST_ITM_BACKTRACE)
  if (g_state == nullptr) g_state = backtrace_create_state(nullptr, 1, ignore_error, nullptr);
  // pc - 1: the call instruction itself, not what follows it.
  if (g_state != nullptr) backtrace_pcinfo(g_state, pc - 1, take_first, ignore_error, &info);
#endif
  if (info.found) return {intern(info.file), info.line, intern(demangled(info.function))};
  Dl_info dl{};
  char text[64];
  if (dladdr(reinterpret_cast<void*>(pc), &dl) != 0 && dl.dli_fname != nullptr) {
    std::snprintf(text, sizeof text, "+0x%lx",
                  static_cast<unsigned long>(pc - reinterpret_cast<std::uintptr_t>(dl.dli_fbase)));
    return {intern(std::string(dl.dli_fname) + text), 0,
            intern(dl.dli_sname != nullptr ? dl.dli_sname : "?")};
  }
  std::snprintf(text, sizeof text, "0x%lx", static_cast<unsigned long>(pc));
  return {intern(text), 0, "?"};
}

#if defined(__cpp_lib_source_location)

// Under g_mutex: the records not symbolized yet, and their count (read
// without the lock by resolve_pending()).
std::vector<std::pair<std::uintptr_t, source_location>> g_pending;
std::atomic<std::size_t> g_pending_count{0};

// Every record made, as a set that owns_record() reads without a lock: open
// addressing, at most half full; only added to, under g_mutex (a slot goes
// from 0 to its record once). A fuller table is replaced by one twice as
// large, published with release; the old one stays allocated for readers that
// still look at it (leaked: the sizes add up to less than the last one).
struct owned_table {
  std::size_t mask;
  std::unique_ptr<std::atomic<std::uintptr_t>[]> slots;
  std::size_t count = 0;
};
std::atomic<owned_table*> g_owned{nullptr};

std::size_t owned_home(std::uintptr_t key, std::size_t mask) {
  return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

// Under g_mutex; room guaranteed.
void owned_insert(owned_table& t, std::uintptr_t key) noexcept {
  std::size_t i = owned_home(key, t.mask);
  while (t.slots[i].load(std::memory_order_relaxed) != 0) i = (i + 1) & t.mask;
  t.slots[i].store(key, std::memory_order_relaxed);
  ++t.count;
}

// Under g_mutex. Throws std::bad_alloc with nothing changed.
void owned_add(std::uintptr_t key) {
  owned_table* t = g_owned.load(std::memory_order_relaxed);
  if (t == nullptr || 2 * (t->count + 1) > t->mask + 1) {
    const std::size_t size = t == nullptr ? 1024 : 2 * (t->mask + 1);
    auto larger = std::make_unique<owned_table>();
    larger->mask = size - 1;
    larger->slots = std::make_unique<std::atomic<std::uintptr_t>[]>(size);
    for (std::size_t i = 0; i < size; ++i) larger->slots[i].store(0, std::memory_order_relaxed);
    if (t != nullptr) {
      for (std::size_t i = 0; i <= t->mask; ++i) {
        const std::uintptr_t old = t->slots[i].load(std::memory_order_relaxed);
        if (old != 0) owned_insert(*larger, old);
      }
    }
    owned_insert(*larger, key);
    g_owned.store(larger.release(), std::memory_order_release);  // the old one: leaked
    return;
  }
  owned_insert(*t, key);
}

bool owns_record(const source_location& site) noexcept {
  const std::uintptr_t key = pack_site(site);
  const owned_table* t = g_owned.load(std::memory_order_acquire);
  if (key == 0 || t == nullptr) return false;
  for (std::size_t i = owned_home(key, t->mask);; i = (i + 1) & t->mask) {
    const std::uintptr_t slot = t->slots[i].load(std::memory_order_relaxed);
    if (slot == key) return true;
    if (slot == 0) return false;
  }
}

void resolve_pending() noexcept {
  if (g_pending_count.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  for (const auto& [pc, record] : g_pending) {
    site_text text{"(liboptimist_itm: out of memory naming this site)", 0, "?"};
    try {
      text = symbolize(pc);
    } catch (...) {
    }
    fill_site_record(record, text.file, text.line, text.function);
  }
  g_pending.clear();
  g_pending_count.store(0, std::memory_order_release);
}

constexpr deferred_site_hooks g_hooks{&owns_record, &resolve_pending};

// Under g_mutex. Throws std::bad_alloc with nothing changed.
source_location record_for(std::uintptr_t pc) {
  auto& map = records();
  if (auto found = map.find(pc); found != map.end()) return found->second;
  g_pending.reserve(g_pending.size() + 1);
  map.reserve(map.size() + 1);
  source_location record = make_site_record("(liboptimist_itm: site not symbolized yet)", 0, "?");
  owned_add(pack_site(record));  // (a throw leaks the record: harmless)
  map.emplace(pc, record);       // no throw: room reserved
  g_pending.emplace_back(pc, record);
  g_pending_count.store(g_pending.size(), std::memory_order_release);
  if (g_deferred_sites.load(std::memory_order_relaxed) == nullptr)
    g_deferred_sites.store(&g_hooks, std::memory_order_release);
  return record;
}

#else

// Without std::source_location a location holds its fields by value: symbolize now.
source_location record_for(std::uintptr_t pc) {
  auto& map = records();
  if (auto found = map.find(pc); found != map.end()) return found->second;
  const site_text text = symbolize(pc);
  source_location record = c_site(text.file, text.line, text.function);
  map.emplace(pc, record);
  return record;
}

#endif

// Owns the thread's cache. Its destructor clears t_itm_site_cache and marks
// the cache gone, so that a transaction in a later thread_local destructor
// misses and does not touch the destroyed owner.
thread_local bool t_cache_gone = false;  // trivially destructible: readable to the end
struct cache_owner {
  std::unique_ptr<itm_site_set[]> sets;
  ~cache_owner() {
    t_itm_site_cache = nullptr;
    t_cache_gone = true;
  }
};

itm_site_set* thread_cache() {
  if (t_itm_site_cache != nullptr || t_cache_gone) return t_itm_site_cache;
  thread_local cache_owner owner;
  owner.sets = std::make_unique<itm_site_set[]>(itm_site_cache_sets);  // zero: empty
  t_itm_site_cache = owner.sets.get();
  return t_itm_site_cache;
}

}  // namespace

source_location itm_site_miss(const void* return_address) noexcept {
  const auto pc = reinterpret_cast<std::uintptr_t>(return_address);
  try {
    source_location site;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      site = record_for(pc);
    }
    if (itm_site_set* cache = thread_cache()) {
      itm_site_set& set = cache[itm_site_set_of(pc)];
      set.way[1] = set.way[0];
      set.way[0] = {pc, site};
    }
    return site;
  } catch (...) {
    return {};
  }
}

}  // namespace optimist::detail
