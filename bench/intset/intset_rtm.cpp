// bench/intset/intset_rtm.cpp — the integer sets under tbb::speculative_spin_mutex.
//
// Compiled with -mrtm (CMakeLists.txt, *_rtm.cpp), which bench::spec_mutex_access needs; on a CPU
// without RTM oneTBB finds out at run time and the mutex is a plain spin lock.
#include "intset.hpp"

namespace {

const bool registered = [] {
  bench::intset::register_models<bench::spec_mutex_model>();
  return true;
}();

}  // namespace
