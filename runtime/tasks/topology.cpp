#include "tasks/topology.hpp"

#include <hwloc.h>
#include <sched.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
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
    // Only the cores the calling thread may run on (taskset, numactl, a batch system's CPU
    // mask: hwloc's topology leaves out only what a cpuset cgroup excludes).
    hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
    const bool bound = allowed != nullptr &&
                       hwloc_get_cpubind(t, allowed, HWLOC_CPUBIND_THREAD) == 0 &&
                       !hwloc_bitmap_iszero(allowed);
    unsigned cores = 0;
    for (hwloc_obj_t core = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, nullptr); core != nullptr;
         core = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, core)) {
      if (!bound || (core->cpuset != nullptr && hwloc_bitmap_intersects(core->cpuset, allowed)))
        ++cores;
    }
    if (allowed != nullptr) hwloc_bitmap_free(allowed);
    return cores;
  } catch (...) {
    return 0;
  }
}

unsigned cpu_quota_cores(std::string_view cpu_max) noexcept {
  // "max 100000" (no limit) or "<quota> <period>" in microseconds.
  const std::size_t space = cpu_max.find(' ');
  if (space == std::string_view::npos || cpu_max.empty() || cpu_max[0] == '-') return 0;
  const std::string quota_text(cpu_max.substr(0, space));
  const std::string period_text(cpu_max.substr(space + 1));
  char* end = nullptr;
  const unsigned long long quota = std::strtoull(quota_text.c_str(), &end, 10);
  if (end == quota_text.c_str() || *end != '\0' || quota == 0) return 0;
  const unsigned long long period = std::strtoull(period_text.c_str(), &end, 10);
  if (end == period_text.c_str() || (*end != '\0' && *end != '\n') || period == 0) return 0;
  const unsigned long long cores = (quota + period - 1) / period;  // a part of a core: one more
  return cores > max_threads ? max_threads : static_cast<unsigned>(cores);
}

namespace {

std::string first_line(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// The smallest quota of the groups from `path` up to the root of the hierarchy at `base`;
// `read_level(dir)` reads one group's quota in cores (0: none).
unsigned smallest_quota(const std::string& base, std::string path,
                        unsigned (*read_level)(const std::string& dir)) {
  unsigned limit = 0;
  for (;;) {
    const unsigned cores = read_level(base + (path == "/" ? std::string() : path));
    if (cores > 0 && (limit == 0 || cores < limit)) limit = cores;
    if (path.empty() || path == "/") return limit;
    const std::size_t slash = path.find_last_of('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
}

unsigned v2_level(const std::string& dir) {
  return cpu_quota_cores(first_line(dir + "/cpu.max"));
}
unsigned v1_level(const std::string& dir) {
  return cpu_quota_cores(first_line(dir + "/cpu.cfs_quota_us") + " " +
                         first_line(dir + "/cpu.cfs_period_us"));
}

}  // namespace

unsigned cgroup_cpu_quota_cores() noexcept {
  try {
    // /proc/self/cgroup: "0::<path>" for cgroup v2, "<n>:<controllers>:<path>" for v1.
    std::ifstream membership("/proc/self/cgroup");
    std::string line;
    unsigned limit = 0;
    auto take = [&](unsigned cores) {
      if (cores > 0 && (limit == 0 || cores < limit)) limit = cores;
    };
    while (std::getline(membership, line)) {
      const std::size_t first = line.find(':');
      const std::size_t second = first == std::string::npos ? first : line.find(':', first + 1);
      if (second == std::string::npos) continue;
      const std::string controllers = line.substr(first + 1, second - first - 1);
      const std::string path = line.substr(second + 1);
      if (controllers.empty()) {
        take(smallest_quota("/sys/fs/cgroup", path, v2_level));
      } else if (("," + controllers + ",").find(",cpu,") != std::string::npos) {
        take(smallest_quota("/sys/fs/cgroup/cpu", path, v1_level));
        take(smallest_quota("/sys/fs/cgroup/" + controllers, path, v1_level));
      }
    }
    return limit;
  } catch (...) {
    return 0;
  }
}

unsigned allowed_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  const int count = CPU_COUNT(&set);
  return count > 0 ? static_cast<unsigned>(count) : 0;
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
    // Digits only: strtol would also take leading blanks and a sign (" 4", "+4").
    if (errno != 0 || end == env || *end != '\0' || value <= 0 ||
        value > static_cast<long>(max_threads) || *env < '0' || *env > '9') {
      throw std::invalid_argument("OPTIMIST_THREADS must be a whole number from 1 to " +
                                  std::to_string(max_threads) + ", got '" + std::string(env) + "'");
    }
    return static_cast<unsigned>(value);
  }
  // A CPU quota (docker --cpus, a Kubernetes limit) caps the default too: more workers than
  // the quota's cores only get the process throttled. Read once (files under /proc and /sys: a
  // run's start must not pay for them each time); the CPU mask is read at every run.
  static const unsigned quota = cgroup_cpu_quota_cores();
  unsigned cores = probe != nullptr ? probe() : 0;
  if (cores > 0) return quota > 0 && quota < cores ? quota : cores;
  unsigned fallback = allowed_cpus();
  if (fallback == 0) fallback = std::thread::hardware_concurrency();
  if (fallback == 0) fallback = 1;
  if (quota > 0 && quota < fallback) fallback = quota;
  warnings << "optimist: hwloc reports no cores (no topology?); using the CPUs this thread may "
              "run on, "
           << fallback << " threads\n";
  return fallback;
}

bool pin_this_thread_to_core(unsigned index) noexcept {
  try {
    std::lock_guard<std::mutex> lock(g_bind_mutex);
    hwloc_topology_t t = topology().get();
    if (t == nullptr) return false;
    if (t_saved_binding.cpuset == nullptr) {
      hwloc_bitmap_t previous = hwloc_bitmap_alloc();
      if (previous == nullptr) return false;
      if (hwloc_get_cpubind(t, previous, HWLOC_CPUBIND_THREAD) != 0) {
        hwloc_bitmap_free(previous);
        return false;  // binding it without a way back would outlive the run
      }
      t_saved_binding.cpuset = previous;
    }
    // Among the cores the thread could run on before it was pinned (its CPU mask: taskset,
    // numactl), and only on their CPUs in that mask: pinning must not widen the user's mask.
    const hwloc_const_bitmap_t allowed = t_saved_binding.cpuset;
    unsigned usable = 0;
    for (hwloc_obj_t c = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, nullptr); c != nullptr;
         c = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, c)) {
      if (c->cpuset != nullptr && hwloc_bitmap_intersects(c->cpuset, allowed)) ++usable;
    }
    if (usable == 0) return false;
    unsigned wanted = index % usable;
    hwloc_obj_t core = nullptr;
    for (hwloc_obj_t c = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, nullptr); c != nullptr;
         c = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, c)) {
      if (c->cpuset == nullptr || !hwloc_bitmap_intersects(c->cpuset, allowed)) continue;
      if (wanted-- == 0) {
        core = c;
        break;
      }
    }
    if (core == nullptr) return false;
    hwloc_bitmap_t target = hwloc_bitmap_alloc();
    if (target == nullptr) return false;
    hwloc_bitmap_and(target, core->cpuset, allowed);
    const bool bound = hwloc_set_cpubind(t, target, HWLOC_CPUBIND_THREAD) == 0;
    hwloc_bitmap_free(target);
    return bound;
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
