// bench/common/thread_counts.hpp — the thread counts every workload runs at: 1, 2 and all cores.
//
// Two ways to apply them, because the models use threads in two ways:
//   - the caller's threads run the workload (bank, per-access, intset, vacation): Google
//     Benchmark starts them, `->Apply(bench::caller_threads)` gives ->Threads(n) for each count;
//   - a runtime runs tasks on its own workers (interest, train): one benchmark thread,
//     `->Apply(bench::worker_threads)` gives ->Arg(n) and the benchmark hands n to the runtime
//     (optimist::run_options::threads, a tbb::task_arena of n).
// Both add ->UseRealTime(): with several threads only wall-clock time means anything.
//
// "All cores" is std::thread::hardware_concurrency() (what `nproc` prints), or
// OPTIMIST_BENCH_THREADS when set — the runner passes its own count so that every binary agrees.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "environment.hpp"

namespace bench {

// thread_counts()
//   1, 2 and all cores, sorted, without duplicates.
inline std::vector<int> thread_counts() {
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  const int all = static_cast<int>(size_from_environment("OPTIMIST_BENCH_THREADS", hardware));
  std::vector<int> counts{1, 2, all};
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  return counts;
}

inline void caller_threads(benchmark::internal::Benchmark* b) {
  for (int n : thread_counts()) b->Threads(n);
  b->UseRealTime();
}

inline void worker_threads(benchmark::internal::Benchmark* b) {
  b->ArgName("threads");
  for (int n : thread_counts()) b->Arg(n);
  b->UseRealTime();
}

// one_thread / one_worker: the sequential baseline, which would race with more.
inline void one_thread(benchmark::internal::Benchmark* b) {
  b->Threads(1);
  b->UseRealTime();
}

inline void one_worker(benchmark::internal::Benchmark* b) {
  b->ArgName("threads");
  b->Arg(1);
  b->UseRealTime();
}

}  // namespace bench
