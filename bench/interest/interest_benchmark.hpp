// bench/interest/interest_benchmark.hpp — BM_interest_<model>: one sweep of the interest-rate
// loop (interest.hpp) over all accounts per iteration, under one model.
//
// The argument is the number of threads the model's runtime uses (optimist's workers, or a
// tbb::task_arena for the lock and libitm models; bench/common/parallel_loop.hpp), so every
// benchmark itself runs on one Google Benchmark thread. items_per_second counts accounts
// credited. 1'000'000 accounts (OPTIMIST_BENCH_ACCOUNTS; 10'000 with OPTIMIST_BENCH_SIZE=small).
// Every account is checked to have been credited exactly once per sweep; a run that fails
// that is marked with an error instead of a time.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

#include "../common/access.hpp"
#include "../common/environment.hpp"
#include "../common/optimist_counters.hpp"
#include "../common/parallel_loop.hpp"
#include "../common/registration.hpp"
#include "../common/thread_counts.hpp"
#include "interest.hpp"

namespace interest {

inline std::size_t account_count() {
  static const std::size_t n = bench::workload_size("OPTIMIST_BENCH_ACCOUNTS", 1'000'000, 10'000);
  return n;
}

template <class Access>
void BM_interest(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ledger<Access> l(account_count());
  bench::parallel_loop<Access> loop(threads);
  bench::reset_optimist_counters();
  bench::start_run<Access>(state, threads);
  std::size_t sweeps = 0;
  bool correct = true;
  for (auto _ : state) {
    loop.run(l.size(), [&l](std::size_t i) { l.credit(i); });
    if (++sweeps == sweeps_before_reset) {
      state.PauseTiming();
      correct = correct && l.credited_exactly(sweeps);
      l.reset();
      sweeps = 0;
      state.ResumeTiming();
    }
  }
  correct = correct && l.credited_exactly(sweeps);
  state.SetItemsProcessed(static_cast<std::int64_t>(l.size()) * state.iterations());
  bench::report_optimist_counters<Access>(state);
  if (!correct) state.SkipWithError("an account was not credited exactly once per sweep");
}

// register_interest<Access>(threads): BM_interest_<model>/threads:<n>.
template <class Access>
void register_interest(void (*threads)(benchmark::internal::Benchmark*)) {
  bench::register_model<Access>("interest", BM_interest<Access>)
      ->Apply(threads)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace interest
