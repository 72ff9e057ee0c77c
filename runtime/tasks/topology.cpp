#include "tasks/topology.hpp"

#include <hwloc.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>

namespace optimist::detail {

namespace {

// One topology for the process, loaded on first use (loading walks sysfs).
class loaded_topology {
 public:
  loaded_topology() {
    if (hwloc_topology_init(&topology_) != 0) return;
    if (hwloc_topology_load(topology_) != 0) {
      hwloc_topology_destroy(topology_);
      return;
    }
    loaded_ = true;
  }
  ~loaded_topology() {
    if (loaded_) hwloc_topology_destroy(topology_);
  }
  loaded_topology(const loaded_topology&) = delete;
  loaded_topology& operator=(const loaded_topology&) = delete;

  hwloc_topology_t get() const noexcept { return loaded_ ? topology_ : nullptr; }

 private:
  hwloc_topology_t topology_ = nullptr;
  bool loaded_ = false;
};

loaded_topology& topology() {
  static loaded_topology instance;
  return instance;
}

std::mutex g_bind_mutex;  // hwloc topology objects are not safe to share across threads

// The binding this thread had before pin_this_thread_to_core() first moved it.
struct saved_binding {
  hwloc_bitmap_t cpuset = nullptr;
  ~saved_binding() {
    if (cpuset != nullptr) hwloc_bitmap_free(cpuset);
  }
};
thread_local saved_binding t_saved_binding;

}  // namespace

unsigned hwloc_physical_cores() noexcept {
  try {
    std::lock_guard<std::mutex> lock(g_bind_mutex);
    hwloc_topology_t t = topology().get();
    if (t == nullptr) return 0;
    int cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
    return cores > 0 ? static_cast<unsigned>(cores) : 0;
  } catch (...) {
    return 0;
  }
}

unsigned choose_thread_count(unsigned requested, unsigned (*probe)(), std::ostream& warnings) {
  // The same bound as OPTIMIST_THREADS: a count beyond it is a mistake (an
  // int that went negative, a parse that failed), not a wish for that many
  // threads, and would queue one oneTBB task per thread before any worker runs.
  if (requested > max_threads) {
    throw std::invalid_argument(
        "optimist: run_options::threads must be 0 (the default) or from 1 to " +
        std::to_string(max_threads) + ", got " + std::to_string(requested));
  }
  if (requested > 0) return requested;
  if (const char* env = std::getenv("OPTIMIST_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    errno = 0;
    long value = std::strtol(env, &end, 10);
    if (errno != 0 || end == env || *end != '\0' || value <= 0 ||
        value > static_cast<long>(max_threads)) {
      throw std::invalid_argument("OPTIMIST_THREADS must be a whole number from 1 to " +
                                  std::to_string(max_threads) + ", got '" + std::string(env) + "'");
    }
    return static_cast<unsigned>(value);
  }
  unsigned cores = probe != nullptr ? probe() : 0;
  if (cores > 0) return cores;
  unsigned fallback = std::thread::hardware_concurrency();
  if (fallback == 0) fallback = 1;
  warnings << "optimist: hwloc reports no cores (no topology?); using the hardware concurrency, "
           << fallback << " threads\n";
  return fallback;
}

bool pin_this_thread_to_core(unsigned index) noexcept {
  try {
    std::lock_guard<std::mutex> lock(g_bind_mutex);
    hwloc_topology_t t = topology().get();
    if (t == nullptr) return false;
    int cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
    if (cores <= 0) return false;
    hwloc_obj_t core =
        hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, index % static_cast<unsigned>(cores));
    if (core == nullptr || core->cpuset == nullptr) return false;
    if (t_saved_binding.cpuset == nullptr) {
      hwloc_bitmap_t previous = hwloc_bitmap_alloc();
      if (previous == nullptr) return false;
      if (hwloc_get_cpubind(t, previous, HWLOC_CPUBIND_THREAD) != 0) {
        hwloc_bitmap_free(previous);
        return false;  // binding it without a way back would outlive the run
      }
      t_saved_binding.cpuset = previous;
    }
    return hwloc_set_cpubind(t, core->cpuset, HWLOC_CPUBIND_THREAD) == 0;
  } catch (...) {
    return false;
  }
}

bool restore_this_thread_binding() noexcept {
  try {
    std::lock_guard<std::mutex> lock(g_bind_mutex);
    hwloc_bitmap_t previous = t_saved_binding.cpuset;
    if (previous == nullptr) return false;
    t_saved_binding.cpuset = nullptr;
    hwloc_topology_t t = topology().get();
    const bool restored = t != nullptr && hwloc_set_cpubind(t, previous, HWLOC_CPUBIND_THREAD) == 0;
    hwloc_bitmap_free(previous);
    return restored;
  } catch (...) {
    return false;
  }
}

}  // namespace optimist::detail
