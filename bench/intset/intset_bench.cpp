// bench/intset/intset_bench.cpp — bench_intset: the integer sets (bench/intset/intset.hpp) under
// every model, and main().
//
// This file registers the models that need no special compiler flag: sequential (1 thread),
// mutex, optimist_stm and optimist_htm. intset_rtm.cpp adds spec_mutex (-mrtm) and
// intset_gnutm.cpp adds gnutm (-fgnu-tm).
//
//   build/…/bench_intset --benchmark_filter=rbtree
//   ITM_DEFAULT_METHOD=ml_wt build/…/bench_intset --benchmark_filter=gnutm   # instrumented libitm
#include "../common/benchmark_main.hpp"
#include "intset.hpp"

namespace {

const bool registered = [] {
  bench::intset::register_models<bench::sequential_model>();
  bench::intset::register_models<bench::mutex_model>();
  bench::intset::register_models<bench::spin_model>();
  bench::intset::register_models<bench::optimist_stm_model>();
  bench::intset::register_models<bench::optimist_htm_model>();
  bench::intset::register_models<bench::optimist_serial_model>();
  bench::intset::register_models<bench::optimist_auto_model>();
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "intset");
}
