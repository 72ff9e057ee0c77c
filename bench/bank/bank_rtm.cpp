// bench/bank/bank_rtm.cpp — BM_bank_spec_mutex: the bank under tbb::speculative_spin_mutex.
//
// Compiled with -mrtm (CMakeLists.txt, *_rtm.cpp), which is what makes oneTBB's
// speculative_spin_mutex the RTM-eliding mutex; oneTBB checks CPUID at run time, so on a CPU
// without RTM it is a plain spin lock (the label says so).
#include "bank_benchmark.hpp"

namespace {

const bool registered = [] {
  bank::register_bank<bench::spec_mutex_access>(bench::caller_threads);
  return true;
}();

}  // namespace
