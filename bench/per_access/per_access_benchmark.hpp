// bench/per_access/per_access_benchmark.hpp — BM_per_access_read_only_<model> and
// BM_per_access_read_write_<model>: per_access.hpp under one model.
//
// The argument is the number of words per transaction (1, 2, 4, ... 64); items_per_second counts
// transactions over all threads, and the counter words_per_second (a rate) the words. ns per
// transaction and per word follow from them (bench/tabulate.py prints both). The read-write run
// checks afterwards that each thread's region gained exactly one per word written, the read-only
// run that every sum was `words` (each word holds 1).
#pragma once

#include <benchmark/benchmark.h>

#include <string>

#include "../common/access.hpp"
#include "../common/optimist_counters.hpp"
#include "../common/registration.hpp"
#include "../common/thread_counts.hpp"
#include "../common/xorshift.hpp"
#include "per_access.hpp"

namespace per_access {

template <class Access>
words_array<Access>& shared_words() {
  static words_array<Access> instance;
  return instance;
}

inline void word_counts(benchmark::internal::Benchmark* b) {
  b->ArgName("words");
  for (long words = 1; words <= static_cast<long>(max_words); words *= 2) b->Arg(words);
}

template <class Access>
void prepare(benchmark::State& state) {
  if (state.thread_index() != 0) return;
  // Before the start barrier: the other threads wait there until this is done.
  shared_words<Access>().reset();
  bench::reset_optimist_counters();
}

template <class Access>
void BM_read_only(benchmark::State& state) {
  words_array<Access>& words = shared_words<Access>();
  prepare<Access>(state);
  bench::start_run<Access>(state);
  const auto count = static_cast<std::size_t>(state.range(0));
  const auto region = static_cast<std::size_t>(state.thread_index());
  bench::xorshift_rng rng(region);
  long wrong = 0;
  for (auto _ : state) {
    const long sum = words.read_only(region, rng.below(region_words - count + 1), count);
    wrong += sum != static_cast<long>(count);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["words_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
  bench::report_optimist_counters<Access>(state);
  if (wrong != 0) state.SkipWithError("a read-only transaction saw a word other than 1");
}

template <class Access>
void BM_read_write(benchmark::State& state) {
  words_array<Access>& words = shared_words<Access>();
  prepare<Access>(state);
  bench::start_run<Access>(state);
  const auto count = static_cast<std::size_t>(state.range(0));
  const auto region = static_cast<std::size_t>(state.thread_index());
  bench::xorshift_rng rng(region);
  for (auto _ : state) words.read_write(region, rng.below(region_words - count + 1), count);
  state.SetItemsProcessed(state.iterations());
  state.counters["words_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
  bench::report_optimist_counters<Access>(state);
  // After the stop barrier only this thread has ever written its region (for threads <= regions).
  if (state.threads() > static_cast<int>(regions)) return;
  const long growth = words.region_total_unsynchronised(region) - static_cast<long>(region_words);
  if (growth != static_cast<long>(state.iterations()) * static_cast<long>(count)) {
    state.SkipWithError(("read-write transactions lost updates: a region grew by " +
                         std::to_string(growth) + " instead of " +
                         std::to_string(state.iterations() * state.range(0)))
                            .c_str());
  }
}

// register_per_access<Access>(threads): both variants at every word count.
template <class Access>
void register_per_access(void (*threads)(benchmark::internal::Benchmark*)) {
  bench::register_model<Access>("per_access_read_only", BM_read_only<Access>)
      ->Apply(word_counts)
      ->Apply(threads);
  bench::register_model<Access>("per_access_read_write", BM_read_write<Access>)
      ->Apply(word_counts)
      ->Apply(threads);
}

}  // namespace per_access
