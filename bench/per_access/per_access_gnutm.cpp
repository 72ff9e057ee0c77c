// bench/per_access/per_access_gnutm.cpp — the per-access workload under GCC's
// __transaction_atomic (compiled with -fgnu-tm, linked with libitm; g++ only).
#include "../common/gnutm_access.hpp"
#include "per_access_benchmark.hpp"

namespace {

const bool registered = [] {
  per_access::register_per_access<bench::gnutm_access>(bench::caller_threads);
  return true;
}();

}  // namespace
