// bench/per_access/per_access_rtm.cpp — the per-access workload under
// tbb::speculative_spin_mutex (compiled with -mrtm; a plain spin lock on a CPU without RTM).
#include "per_access_benchmark.hpp"

namespace {

const bool registered = [] {
  per_access::register_per_access<bench::spec_mutex_access>(bench::caller_threads);
  return true;
}();

}  // namespace
