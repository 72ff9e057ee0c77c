// bench/bank/bank_gnutm.cpp — BM_bank_gnutm: the bank under GCC's __transaction_atomic.
//
// Compiled with -fgnu-tm and linked with libitm (CMakeLists.txt, *_gnutm.cpp; g++ only). Named
// BM_bank_gnutm_<method> when ITM_DEFAULT_METHOD is set (bench/run runs it again with ml_wt).
#include "../common/gnutm_access.hpp"
#include "bank_benchmark.hpp"

namespace {

const bool registered = [] {
  bank::register_bank<bench::gnutm_access>(bench::caller_threads);
  return true;
}();

}  // namespace
