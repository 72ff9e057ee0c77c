// bench/interest/interest_rtm.cpp — the interest-rate loop under tbb::speculative_spin_mutex
// (compiled with -mrtm; a plain spin lock on a CPU without RTM), parallelised with
// tbb::parallel_for.
#include "interest_benchmark.hpp"

namespace {

const bool registered = [] {
  interest::register_interest<bench::spec_mutex_access>(bench::worker_threads);
  return true;
}();

}  // namespace
