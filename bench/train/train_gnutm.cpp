// bench/train/train_gnutm.cpp — the train schedule under GCC's __transaction_atomic (compiled
// with -fgnu-tm, linked with libitm; g++ only), parallelised with tbb::parallel_for.
#include "../common/gnutm_access.hpp"
#include "train_benchmark.hpp"

namespace {

const bool registered = [] {
  train::register_train<bench::gnutm_access>(bench::worker_threads);
  return true;
}();

}  // namespace
