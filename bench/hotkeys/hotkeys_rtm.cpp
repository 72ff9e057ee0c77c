// bench/hotkeys/hotkeys_rtm.cpp — BM_hotkeys_spec_mutex: the hot-keys table under
// tbb::speculative_spin_mutex.
//
// Compiled with -mrtm (CMakeLists.txt, *_rtm.cpp), which is what makes oneTBB's
// speculative_spin_mutex the RTM-eliding mutex; oneTBB checks CPUID at run time, so on a CPU
// without RTM it is a plain spin lock (the label says so).
#include "hotkeys_benchmark.hpp"

namespace {

const bool registered = [] {
  hotkeys::register_hotkeys<bench::spec_mutex_access>(bench::caller_threads);
  return true;
}();

}  // namespace
