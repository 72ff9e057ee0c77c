// bench/train/train_bench.cpp — bench_train: the train-schedule fixed point under every model,
// and main().
//
// This file registers sequential (the plain sweeps), mutex (tbb::parallel_for, one global
// std::mutex), optimist_stm and optimist_htm (one optimist task per train and sweep),
// optimist_stm_tbb (optimist::atomically per train inside tbb::parallel_for);
// train_rtm.cpp adds spec_mutex and train_gnutm.cpp gnutm (both tbb::parallel_for).
//
//   OPTIMIST_BENCH_TRAINS=200000 build/suite/bench_train --benchmark_filter=optimist
#include "../common/benchmark_main.hpp"
#include "train_benchmark.hpp"

namespace {

const bool registered = [] {
  train::register_train<bench::sequential_access>(bench::one_worker);
  train::register_train<bench::mutex_access>(bench::worker_threads);
  train::register_train<bench::spin_access>(bench::worker_threads);
  // The locks taken once per chunk of trains (parallel_loop.hpp: chunked).
  train::register_train<bench::chunked<bench::mutex_access>>(bench::worker_threads);
  train::register_train<bench::chunked<bench::spin_access>>(bench::worker_threads);
  train::register_train<bench::optimist_stm_access>(bench::worker_threads);
  train::register_train<bench::optimist_htm_access>(bench::worker_threads);
  train::register_train<bench::optimist_serial_access>(bench::worker_threads);
  train::register_train<bench::optimist_auto_access>(bench::worker_threads);
  // optimist transactions in tbb::parallel_for, as the lock models run: the task runtime's share.
  train::register_train<bench::tbb_loop<bench::optimist_stm_access>>(bench::worker_threads);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "train");
}
