// bench/bank/bank_benchmark.hpp — BM_bank_<model>: the bank (bank.hpp) under one model.
//
// Each iteration is one operation (an audit or a transfer); items_per_second counts operations
// over all threads. The argument audit_pct is the share of audits: 20 (the workload) and 0
// (transfers only, 2 reads and 2 writes: the smallest useful transaction, which shows the fixed
// cost of a transaction where the audits show the cost per read). The run fails (SkipWithError) if
// any audit saw a total other than expected_total or if money was created or lost by the end;
// optimist models also report aborts per transaction. Instantiated by bank_bench.cpp (sequential,
// mutex, optimist_stm, optimist_htm), bank_rtm.cpp (spec_mutex) and bank_gnutm.cpp (gnutm).
#pragma once

#include <benchmark/benchmark.h>

#include <string>

#include "../common/access.hpp"
#include "../common/optimist_counters.hpp"
#include "../common/registration.hpp"
#include "../common/thread_counts.hpp"
#include "../common/xorshift.hpp"
#include "bank.hpp"

namespace bank {

// One bank per model, so that models never share accounts.
template <class Access>
accounts<Access>& shared_accounts() {
  static accounts<Access> instance;
  return instance;
}

template <class Access>
void BM_bank(benchmark::State& state) {
  accounts<Access>& bank = shared_accounts<Access>();
  if (state.thread_index() == 0) {
    // Before the start barrier: the other threads wait there until this is done.
    bank.reset();
    bench::reset_optimist_counters();
  }
  bench::start_run<Access>(state);
  bench::xorshift_rng rng(static_cast<unsigned>(state.thread_index()));
  const auto audits = static_cast<unsigned>(state.range(0));
  long inconsistent = 0;
  for (auto _ : state) {
    if (!bank.operate(rng, audits)) ++inconsistent;
  }
  state.SetItemsProcessed(state.iterations());
  bench::report_optimist_counters<Access>(state);
  if (inconsistent != 0) {
    state.SkipWithError(
        (std::to_string(inconsistent) + " audit(s) saw a total other than the money in the bank")
            .c_str());
  }
  // Every thread has passed the stop barrier at the end of its loop: no operation is in flight.
  if (state.thread_index() != 0) return;
  const long total = bank.total_unsynchronised();
  if (total != expected_total) {
    state.SkipWithError(("money not conserved: total " + std::to_string(total) + ", expected " +
                         std::to_string(expected_total))
                            .c_str());
  }
}

// register_bank<Access>(threads): BM_bank_<model> at the given thread counts.
template <class Access>
void register_bank(void (*threads)(benchmark::internal::Benchmark*)) {
  bench::register_model<Access>("bank", BM_bank<Access>)
      ->ArgName("audit_pct")
      ->Arg(audit_percent)
      ->Arg(0)
      ->Apply(threads);
}

}  // namespace bank
