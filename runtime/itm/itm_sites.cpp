// itm_site: return address -> file:line through libbacktrace (GCC's own
// symbolizer, shipped with GCC as a static PIC library), addresses when the
// program has no debug information. Names are interned for the life of the
// process, as c_site() requires (INVARIANT site-records-live-forever).
#include "itm/itm_sites.hpp"

#include <dlfcn.h>
#if __has_include(<backtrace.h>) && !defined(OPTIMIST_ITM_NO_BACKTRACE)
#include <backtrace.h>
#define OPTIMIST_ITM_BACKTRACE 1
#endif

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "capi/c_site.hpp"

namespace optimist::detail {

namespace {

std::mutex g_mutex;
#if defined(OPTIMIST_ITM_BACKTRACE)
backtrace_state* g_state = nullptr;
#endif

std::unordered_map<std::uintptr_t, source_location>& resolved() {
  static auto* map = new std::unordered_map<std::uintptr_t, source_location>();
  return *map;
}

const char* intern(const std::string& text) {
  static auto* strings = new std::unordered_set<std::string>();
  return strings->insert(text).first->c_str();
}

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

source_location resolve(std::uintptr_t pc) {
  pc_info info;
#if defined(OPTIMIST_ITM_BACKTRACE)
  if (g_state == nullptr) g_state = backtrace_create_state(nullptr, 1, ignore_error, nullptr);
  // pc - 1: the call instruction itself, not what follows it.
  if (g_state != nullptr) backtrace_pcinfo(g_state, pc - 1, take_first, ignore_error, &info);
#endif
  if (info.found) return c_site(intern(info.file), info.line, intern(info.function));
  Dl_info dl{};
  char text[64];
  if (dladdr(reinterpret_cast<void*>(pc), &dl) != 0 && dl.dli_fname != nullptr) {
    std::snprintf(text, sizeof text, "+0x%lx",
                  static_cast<unsigned long>(pc - reinterpret_cast<std::uintptr_t>(dl.dli_fbase)));
    return c_site(intern(std::string(dl.dli_fname) + text), 0,
                  intern(dl.dli_sname != nullptr ? dl.dli_sname : "?"));
  }
  std::snprintf(text, sizeof text, "0x%lx", static_cast<unsigned long>(pc));
  return c_site(intern(text), 0, "?");
}

}  // namespace

source_location itm_site(const void* return_address) noexcept {
  const auto pc = reinterpret_cast<std::uintptr_t>(return_address);
  thread_local std::uintptr_t last_pc = 0;
  thread_local source_location last_site;
  if (pc == last_pc) return last_site;
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto& map = resolved();
    auto found = map.find(pc);
    source_location site = found != map.end() ? found->second : resolve(pc);
    if (found == map.end()) map.emplace(pc, site);
    last_pc = pc;
    last_site = site;
    return site;
  } catch (...) {
    return {};
  }
}

}  // namespace optimist::detail
