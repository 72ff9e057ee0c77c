// bench/vacation/vacation_gnutm.cpp — the travel-reservation workload under GCC's
// __transaction_atomic (libitm).
//
// Compiled with -fgnu-tm (CMakeLists.txt, *_gnutm.cpp; g++ only: with another compiler this file
// is left out). Under libitm's default method one thread runs serial-irrevocable, i.e.
// uninstrumented; the runner's second pass with ITM_DEFAULT_METHOD=ml_wt registers this as
// BM_vacation_gnutm_ml_wt, instrumented at every thread count.
#include "vacation.hpp"

namespace {

const bool registered = [] {
  bench::vacation::register_model<bench::gnutm_model>();
  return true;
}();

}  // namespace
