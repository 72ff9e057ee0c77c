// bench/interest/interest_gnutm.cpp — the interest-rate loop under GCC's __transaction_atomic
// (compiled with -fgnu-tm, linked with libitm; g++ only), parallelised with tbb::parallel_for.
#include "../common/gnutm_access.hpp"
#include "interest_benchmark.hpp"

namespace {

const bool registered = [] {
  interest::register_interest<bench::gnutm_access>(bench::worker_threads);
  return true;
}();

}  // namespace
