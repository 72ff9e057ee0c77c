// bench/hotkeys/hotkeys_benchmark.hpp — BM_hotkeys_<model>: the hot-keys table (hotkeys.hpp)
// under one model.
//
// Each iteration is one move; items_per_second counts moves over all threads. The run fails
// (SkipWithError) if the sum of the table changed; optimist models also report aborts per
// transaction. Instantiated by hotkeys_bench.cpp, hotkeys_rtm.cpp (spec_mutex) and
// hotkeys_gnutm.cpp (gnutm).
#pragma once

#include <benchmark/benchmark.h>

#include <string>

#include "../common/access.hpp"
#include "../common/optimist_counters.hpp"
#include "../common/registration.hpp"
#include "../common/thread_counts.hpp"
#include "../common/xorshift.hpp"
#include "hotkeys.hpp"

namespace hotkeys {

template <class Access>
table<Access>& shared_table() {
  static table<Access> instance;
  return instance;
}

template <class Access>
void BM_hotkeys(benchmark::State& state) {
  table<Access>& t = shared_table<Access>();
  if (state.thread_index() == 0) {
    t.reset();
    bench::reset_optimist_counters();
  }
  bench::start_run<Access>(state);
  bench::xorshift_rng rng(static_cast<unsigned>(state.thread_index()));
  for (auto _ : state) t.operate(rng);
  state.SetItemsProcessed(state.iterations());
  bench::report_optimist_counters<Access>(state);
  if (state.thread_index() != 0) return;
  const long total = t.total_unsynchronised();
  if (total != expected_total) {
    state.SkipWithError(("sum not conserved: " + std::to_string(total) + ", expected " +
                         std::to_string(expected_total))
                            .c_str());
  }
}

template <class Access>
void register_hotkeys(void (*threads)(benchmark::internal::Benchmark*)) {
  bench::register_model<Access>("hotkeys", BM_hotkeys<Access>)->Apply(threads);
}

}  // namespace hotkeys
