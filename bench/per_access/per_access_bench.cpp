// bench/per_access/per_access_bench.cpp — bench_per_access: per-transaction and per-word cost
// under every model, and main().
//
// This file registers sequential (1 thread), mutex, optimist_stm and optimist_htm;
// per_access_rtm.cpp adds spec_mutex and per_access_gnutm.cpp gnutm.
//
//   build/suite/bench_per_access --benchmark_filter='read_only_.*/words:8/'
#include "../common/benchmark_main.hpp"
#include "per_access_benchmark.hpp"

namespace {

const bool registered = [] {
  per_access::register_per_access<bench::sequential_access>(bench::one_thread);
  per_access::register_per_access<bench::mutex_access>(bench::caller_threads);
  per_access::register_per_access<bench::spin_access>(bench::caller_threads);
  per_access::register_per_access<bench::optimist_stm_access>(bench::caller_threads);
  per_access::register_per_access<bench::optimist_htm_access>(bench::caller_threads);
  per_access::register_per_access<bench::optimist_serial_access>(bench::caller_threads);
  per_access::register_per_access<bench::optimist_auto_access>(bench::caller_threads);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "per_access");
}
