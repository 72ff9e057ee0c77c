// bench/train/train_rtm.cpp — the train schedule under tbb::speculative_spin_mutex (compiled
// with -mrtm; a plain spin lock on a CPU without RTM), parallelised with tbb::parallel_for.
#include "train_benchmark.hpp"

namespace {

const bool registered = [] {
  train::register_train<bench::spec_mutex_access>(bench::worker_threads);
  return true;
}();

}  // namespace
