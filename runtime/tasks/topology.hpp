// The machine's shape, from hwloc: how many physical cores there are (the
// default number of workers) and how to bind a thread to one of them.
#pragma once

#include <iosfwd>
#include <memory>
#include <string_view>

namespace optimist::detail {

// Physical cores as hwloc counts them, of those the calling thread may run on (its CPU mask:
// taskset, numactl); 0 if hwloc has no topology.
unsigned hwloc_physical_cores() noexcept;

// The cores a cgroup v2 cpu.max line allows ("<quota> <period>", rounded up), or 0 for no
// limit ("max ...") or a line it cannot read.
unsigned cpu_quota_cores(std::string_view cpu_max) noexcept;

// The smallest CPU quota of this process's cgroup v2 groups, in cores; 0 if none.
unsigned cgroup_cpu_quota_cores() noexcept;

// The CPUs the calling thread may run on (sched_getaffinity); 0 if unknown.
unsigned allowed_cpus() noexcept;

// The most workers a run may have (run_options::threads, OPTIMIST_THREADS);
// also the parallelism limit the task runtime raises oneTBB's to.
inline constexpr unsigned max_threads = 4096;

// Workers for a run: `requested` if non-zero, else $OPTIMIST_THREADS, else
// `probe()` physical cores; if the probe finds none, the CPUs the thread may run
// on (else the hardware concurrency), with a warning on `warnings`. The default
// (not `requested`, not OPTIMIST_THREADS) is capped by a cgroup CPU quota. Throws
// std::invalid_argument for a malformed OPTIMIST_THREADS or a `requested` above max_threads.
unsigned choose_thread_count(unsigned requested, unsigned (*probe)(), std::ostream& warnings);

// Binds the calling thread to core `index` (modulo the count of the cores its CPU mask
// allowed before it was first pinned; only to their CPUs in that mask). Returns
// false if hwloc cannot (no topology, or binding unsupported). The first call
// on a thread remembers the binding the thread had before, for
// restore_this_thread_binding().
bool pin_this_thread_to_core(unsigned index) noexcept;

// Gives the calling thread back the binding it had before its first
// pin_this_thread_to_core() (and forgets it). Returns false if there was none
// to restore or hwloc cannot. A pinned run calls it on every thread it pinned
// before the run returns: the caller and oneTBB's workers outlive the run.
bool restore_this_thread_binding() noexcept;

}  // namespace optimist::detail
