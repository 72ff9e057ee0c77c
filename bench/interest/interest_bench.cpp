// bench/interest/interest_bench.cpp — bench_interest: the interest-rate loop under every model,
// and main().
//
// This file registers sequential (the plain loop), mutex (tbb::parallel_for, one global
// std::mutex), optimist_stm and optimist_htm (one optimist task per account), optimist_stm_tbb
// (optimist::atomically per account inside tbb::parallel_for);
// interest_rtm.cpp adds spec_mutex and interest_gnutm.cpp gnutm (both tbb::parallel_for).
//
//   OPTIMIST_BENCH_ACCOUNTS=100000 build/suite/bench_interest --benchmark_filter=optimist
#include "../common/benchmark_main.hpp"
#include "interest_benchmark.hpp"

namespace {

const bool registered = [] {
  interest::register_interest<bench::sequential_access>(bench::one_worker);
  interest::register_interest<bench::mutex_access>(bench::worker_threads);
  interest::register_interest<bench::spin_access>(bench::worker_threads);
  // The locks taken once per chunk of accounts (parallel_loop.hpp: chunked).
  interest::register_interest<bench::chunked<bench::mutex_access>>(bench::worker_threads);
  interest::register_interest<bench::chunked<bench::spin_access>>(bench::worker_threads);
  interest::register_interest<bench::optimist_stm_access>(bench::worker_threads);
  interest::register_interest<bench::optimist_htm_access>(bench::worker_threads);
  interest::register_interest<bench::optimist_serial_access>(bench::worker_threads);
  interest::register_interest<bench::optimist_auto_access>(bench::worker_threads);
  // optimist transactions in tbb::parallel_for, as the lock models run: the task runtime's share.
  interest::register_interest<bench::tbb_loop<bench::optimist_stm_access>>(bench::worker_threads);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "interest");
}
