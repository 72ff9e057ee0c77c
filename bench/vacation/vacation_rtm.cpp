// bench/vacation/vacation_rtm.cpp — the travel-reservation workload under
// tbb::speculative_spin_mutex.
//
// Compiled with -mrtm (CMakeLists.txt, *_rtm.cpp), which bench::spec_mutex_access needs; on a CPU
// without RTM oneTBB finds out at run time and the mutex is a plain spin lock.
#include "vacation.hpp"

namespace {

const bool registered = [] {
  bench::vacation::register_model<bench::spec_mutex_model>();
  return true;
}();

}  // namespace
