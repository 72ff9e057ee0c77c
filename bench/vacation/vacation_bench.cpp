// bench/vacation/vacation_bench.cpp — bench_vacation: the travel-reservation workload
// (bench/vacation/vacation.hpp) under every model, and main().
//
// This file registers the models that need no special compiler flag: sequential (1 thread),
// mutex, optimist_stm and optimist_htm. vacation_rtm.cpp adds spec_mutex (-mrtm) and
// vacation_gnutm.cpp adds gnutm (-fgnu-tm).
//
//   build/…/bench_vacation
//   ITM_DEFAULT_METHOD=ml_wt build/…/bench_vacation --benchmark_filter=gnutm   # instrumented
//   libitm
#include "../common/benchmark_main.hpp"
#include "vacation.hpp"

namespace {

const bool registered = [] {
  bench::vacation::register_model<bench::sequential_model>();
  bench::vacation::register_model<bench::mutex_model>();
  bench::vacation::register_model<bench::spin_model>();
  bench::vacation::register_model<bench::optimist_stm_model>();
  bench::vacation::register_model<bench::optimist_htm_model>();
  bench::vacation::register_model<bench::optimist_serial_model>();
  bench::vacation::register_model<bench::optimist_auto_model>();
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "vacation");
}
