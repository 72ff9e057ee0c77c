// bench/common/benchmark_main.hpp — main() of every bench_<workload> executable.
//
// Each workload's <workload>_bench.cpp ends with
//
//   int main(int argc, char** argv) { return bench::benchmark_main(argc, argv, "bank"); }
//
// and the benchmarks of all its files (the *_rtm.cpp and *_gnutm.cpp ones included) register
// themselves from static initialisers. The JSON context records what the ratios depend on: the
// size setting, libitm's method, whether this CPU has RTM.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "environment.hpp"
#include "optimist/optimist.hpp"

namespace bench {

inline int benchmark_main(int argc, char** argv, const char* workload) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("workload", workload);
  benchmark::AddCustomContext("bench_size", small_sizes() ? "small" : "full");
#if defined(OPTIMIST_NO_GNU_TM)
  benchmark::AddCustomContext("itm_default_method", "not built (compiler is not GCC)");
#else
  const char* method = std::getenv("ITM_DEFAULT_METHOD");
  benchmark::AddCustomContext("itm_default_method",
                              method != nullptr && *method != '\0' ? method : "adaptive");
#endif
  benchmark::AddCustomContext("cpu_has_rtm", optimist::htm_available() ? "yes" : "no");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
