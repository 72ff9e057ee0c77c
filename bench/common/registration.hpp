// bench/common/registration.hpp — naming, preparing and labelling one model's run.
//
// Every workload registers one benchmark per model, named BM_<workload>_<model>, from the file
// that may instantiate that model (<workload>_bench.cpp, *_rtm.cpp, *_gnutm.cpp):
//
//   template <class Access>
//   void BM_bank(benchmark::State& state) {
//     bench::start_run<Access>(state);   // mode set and label set, or the run marked skipped
//     for (auto _ : state) { ... }         // (a skipped run's loop runs no iteration)
//   }
//   const bool registered = [] {
//     bench::register_model<bench::mutex_access>("bank", BM_bank<bench::mutex_access>)
//         ->Apply(bench::caller_threads);
//     return true;
//   }();
#pragma once

#include <benchmark/benchmark.h>

#include <string>

namespace bench {

// register_model<Access>(workload, fn)
//   Registers fn as BM_<workload>_<Access::model_name()>; apply thread counts to the result.
template <class Access>
benchmark::internal::Benchmark* register_model(const char* workload,
                                               void (*fn)(benchmark::State&)) {
  const std::string name = std::string("BM_") + workload + "_" + Access::model_name();
  return benchmark::RegisterBenchmark(name.c_str(), fn);
}

// start_run<Access>(state, threads)
//   Call first in the benchmark function, before the timed loop. Thread 0 prepares the model
//   (optimist's execution mode) while the other threads wait at Google Benchmark's start
//   barrier; every thread sets the label. When the model cannot run here the run is marked
//   skipped with the reason. Enter the timed loop afterwards in any case: a skipped run's loop
//   runs no iteration, but every thread must meet Google Benchmark's start and stop barriers.
//   `threads` defaults to the benchmark's threads; the runtime-driven workloads pass their
//   worker count. Returns false when skipped.
template <class Access>
bool start_run(benchmark::State& state, int threads = 0) {
  if (threads == 0) threads = state.threads();
  if (state.thread_index() == 0) {
    const std::string problem = Access::prepare();
    if (!problem.empty()) {
      state.SkipWithError(problem.c_str());
      return false;
    }
  }
  const std::string label = Access::label(threads);
  if (!label.empty()) state.SetLabel(label);
  return true;
}

}  // namespace bench
