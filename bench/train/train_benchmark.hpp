// bench/train/train_benchmark.hpp — BM_train_<model>: the train schedule (train.hpp) solved to
// its fixed point once per iteration, under one model.
//
// The argument is the number of threads the model's runtime uses (optimist's workers, or a
// tbb::task_arena for the lock and libitm models; bench/common/parallel_loop.hpp). items_per_second
// counts trains scheduled (one fixed point of n trains is n items), so the models compare by how
// fast they deliver the schedule, whatever number of sweeps their order of updates needed; the
// counter sweeps is the average number. 50'000 trains (OPTIMIST_BENCH_TRAINS; 2'000 with
// OPTIMIST_BENCH_SIZE=small). Every schedule is checked against train::fixed_point.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/access.hpp"
#include "../common/environment.hpp"
#include "../common/optimist_counters.hpp"
#include "../common/parallel_loop.hpp"
#include "../common/registration.hpp"
#include "../common/thread_counts.hpp"
#include "network.hpp"
#include "train.hpp"

namespace train {

inline const network& benchmark_network() {
  return shared_network(bench::workload_size("OPTIMIST_BENCH_TRAINS", 50'000, 2'000));
}

inline const std::vector<long>& expected_schedule() {
  static const std::vector<long> expected = fixed_point(benchmark_network());
  return expected;
}

template <class Access>
void BM_train(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const std::vector<long>& expected = expected_schedule();  // computed before the timed loop
  schedule<Access> s(benchmark_network());
  bench::parallel_loop<Access> loop(threads);
  bench::reset_optimist_counters();
  bench::start_run<Access>(state, threads);
  std::size_t sweeps = 0;
  bool correct = true;
  for (auto _ : state) {
    sweeps += s.solve(loop);
    correct = correct && s.start == expected;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(s.net.size()) * state.iterations());
  state.counters["sweeps"] =
      benchmark::Counter(static_cast<double>(sweeps), benchmark::Counter::kAvgIterations);
  bench::report_optimist_counters<Access>(state);
  if (!correct) state.SkipWithError("the schedule is not the earliest one");
}

// register_train<Access>(threads): BM_train_<model>/threads:<n>.
template <class Access>
void register_train(void (*threads)(benchmark::internal::Benchmark*)) {
  bench::register_model<Access>("train", BM_train<Access>)
      ->Apply(threads)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace train
