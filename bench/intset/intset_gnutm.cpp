// bench/intset/intset_gnutm.cpp — the integer sets under GCC's __transaction_atomic (libitm).
//
// Compiled with -fgnu-tm (CMakeLists.txt, *_gnutm.cpp; g++ only: with another compiler this file
// is left out). The structures' code is instantiated here, so the compiler instruments every
// access inside the transactions. Under libitm's default method one thread runs
// serial-irrevocable, i.e. uninstrumented; the runner's second pass with ITM_DEFAULT_METHOD=ml_wt
// registers these as BM_intset_<structure>_gnutm_ml_wt, instrumented at every thread count.
#include "intset.hpp"

namespace {

const bool registered = [] {
  bench::intset::register_models<bench::gnutm_model>();
  return true;
}();

}  // namespace
