// bench/bank/bank_bench.cpp — bench_bank: the bank under every model, and main().
//
// This file registers the models that need no special compiler flag: sequential (1 thread),
// mutex, optimist_stm and optimist_htm; bank_rtm.cpp adds spec_mutex and bank_gnutm.cpp gnutm.
//
//   build/suite/bench_bank --benchmark_filter=optimist
//   ITM_DEFAULT_METHOD=ml_wt build/suite/bench_bank --benchmark_filter=gnutm   #
//   BM_bank_gnutm_ml_wt
#include "../common/benchmark_main.hpp"
#include "bank_benchmark.hpp"

namespace {

const bool registered = [] {
  bank::register_bank<bench::sequential_access>(bench::one_thread);
  bank::register_bank<bench::mutex_access>(bench::caller_threads);
  bank::register_bank<bench::spin_access>(bench::caller_threads);
  bank::register_bank<bench::optimist_stm_access>(bench::caller_threads);
  bank::register_bank<bench::optimist_htm_access>(bench::caller_threads);
  bank::register_bank<bench::optimist_serial_access>(bench::caller_threads);
  bank::register_bank<bench::optimist_auto_access>(bench::caller_threads);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "bank");
}
