// bench/common/optimist_counters.hpp — optimist's abort rate as a benchmark counter.
//
// A run of an optimist variant resets optimist::stats() in its setup and, after the timed loop,
// reports aborts per committed transaction: the number that explains a slow optimist row.
//
//   bench::reset_optimist_counters();            // thread 0, before the timed loop
//   for (auto _ : state) { ... }
//   bench::report_optimist_counters<Access>(state);   // nothing for models other than optimist
#pragma once

#include <benchmark/benchmark.h>

#include <type_traits>

#include "access.hpp"
#include "optimist/optimist.hpp"

namespace bench {

inline void reset_optimist_counters() {
  optimist::reset_stats();
}
inline void reset_optimist_counters(const benchmark::State&) {
  optimist::reset_stats();
}

// report_optimist_counters(state)
//   On thread 0 only, after the timed loop: every thread has passed Google Benchmark's end-of-run
//   barrier by then, so the counters cover the whole run. Adds aborts_per_tx,
//   irrevocable_per_tx (transactions that ran irrevocably after too many restarts), serial_per_tx
//   (blocks that ran serially: serial mode, auto mode alone) and, in htm
//   mode, hw_attempts_per_tx and hw_commits_per_tx.
inline void report_optimist_counters(benchmark::State& state) {
  if (state.thread_index() != 0) return;
  const optimist::statistics s = optimist::stats();
  const double commits = s.commits > 0 ? static_cast<double>(s.commits) : 1.0;
  state.counters["aborts_per_tx"] = static_cast<double>(s.aborts) / commits;
  state.counters["irrevocable_per_tx"] = static_cast<double>(s.irrevocable) / commits;
  // serial and auto modes: the share of blocks that ran serially (auto: while one thread runs
  // transactions).
  if (s.serial_commits > 0) {
    state.counters["serial_per_tx"] = static_cast<double>(s.serial_commits) / commits;
  }
  // htm mode: how often a hardware attempt was made and how often it committed. The per-site
  // policy stops trying where attempts keep failing (always, on a CPU without RTM), so few
  // attempts per transaction mean the row mostly measures the software path.
  // auto mode beside other threads: the controller's switches and the share
  // of its time spent serially (optimist/mode.hpp).
  const double auto_s = s.automatic.serial_s + s.automatic.speculative_s;
  if (auto_s > 0) {
    state.counters["auto_serial_time"] = s.automatic.serial_s / auto_s;
    state.counters["auto_switches"] = static_cast<double>(s.automatic.switches());
  }
  if (s.hardware.attempts > 0 || s.hardware.skipped > 0) {
    state.counters["hw_attempts_per_tx"] = static_cast<double>(s.hardware.attempts) / commits;
    state.counters["hw_commits_per_tx"] = static_cast<double>(s.hardware.commits) / commits;
  }
}

// report_optimist_counters<Access>(state)
//   The same for optimist models; nothing for the others.
template <class Access>
void report_optimist_counters(benchmark::State& state) {
  if constexpr (std::is_base_of_v<optimist_access, Access>) report_optimist_counters(state);
}

}  // namespace bench
