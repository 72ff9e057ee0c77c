// bench/hotkeys/hotkeys_bench.cpp — bench_hotkeys: the hot-keys table under every model, and
// main().
//
// This file registers the models that need no special compiler flag; hotkeys_rtm.cpp adds
// spec_mutex and hotkeys_gnutm.cpp gnutm.
//
//   build/suite/bench_hotkeys --benchmark_filter='spin|optimist'
#include "../common/benchmark_main.hpp"
#include "hotkeys_benchmark.hpp"

namespace {

const bool registered = [] {
  hotkeys::register_hotkeys<bench::sequential_access>(bench::one_thread);
  hotkeys::register_hotkeys<bench::mutex_access>(bench::caller_threads);
  hotkeys::register_hotkeys<bench::spin_access>(bench::caller_threads);
  hotkeys::register_hotkeys<bench::optimist_stm_access>(bench::caller_threads);
  hotkeys::register_hotkeys<bench::optimist_htm_access>(bench::caller_threads);
  hotkeys::register_hotkeys<bench::optimist_serial_access>(bench::caller_threads);
  hotkeys::register_hotkeys<bench::optimist_auto_access>(bench::caller_threads);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "hotkeys");
}
