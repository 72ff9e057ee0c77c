// bench/tasks_bench.cpp — what a task costs, and how parallel loops of tasks scale.
//
// Three workloads, each written once per model, all in one binary:
//
//   empty tasks      N functions that do nothing: the runtime's own cost per task.
//     BM_empty_tasks_optimist     optimist::add_task x N, then optimist::run_all_tasks()
//     BM_empty_tasks_tbb          tbb::task_group::run x N on a tbb::task_arena of the same size
//     BM_empty_tasks_optimist_ordered  the same with run_options::ordered
//   interest rate    one task per account: balance *= 1.05 (1M accounts; OPTIMIST_BENCH_ACCOUNTS)
//     BM_interest_optimist        optimist::load / optimist::store, one task per account
//     BM_interest_optimist_run    the same, timing only run_all_tasks (the adds, which one
//                                 thread makes, are paused): how the run itself scales
//     BM_interest_optimist_adds   the same, timing only the adds (the runs are paused)
//     BM_interest_optimist_bulk   optimist::add_tasks(accounts, f): one call for every account
//     BM_interest_optimist_bulk_ordered  the same, ordered
//     BM_interest_tbb_atomically  tbb::parallel_for, one optimist::atomically per account: the
//                                 same transactions without the task runtime
//     BM_interest_optimist_ordered  run_options::ordered: what commit order costs
//     BM_interest_sequential      the plain loop (uninstrumented; 1 thread only)
//     BM_interest_mutex           tbb::task_group, one task per account, one global std::mutex
//   train schedule   one sweep of the samples/train_schedule.cpp kernel: each train's start time
//                    from its feeders' (tasks read what other tasks write, and conflict;
//                    200k trains; OPTIMIST_BENCH_TRAINS)
//     BM_train_optimist           unordered tasks
//     BM_train_optimist_ordered   run_options::ordered (the sequential loop's exact result)
//     BM_train_sequential         the plain loop (1 thread only)
//     BM_train_mutex              tbb::task_group, one task per train, one global std::mutex
//
// The argument is the number of worker threads: 1, 2 and one per physical core
// (optimist::resolve_thread_count({}), so OPTIMIST_THREADS changes it). Every benchmark uses
// real time; items_per_second counts tasks (accounts, trains) per second. Each optimist run is
// checked afterwards (the process aborts on a wrong result); optimist variants also report
// aborts per task.
//
//   build/tasks_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//   build/tasks_bench --benchmark_filter='BM_empty_tasks' --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#include "common/environment.hpp"
#include "optimist/optimist.hpp"
#include "train/network.hpp"

namespace {

// ---- sizes and thread counts -------------------------------------------------------------------

constexpr std::size_t empty_tasks_per_run = 100'000;

const std::size_t g_accounts = bench::size_from_environment("OPTIMIST_BENCH_ACCOUNTS", 1'000'000);
const std::size_t g_trains = bench::size_from_environment("OPTIMIST_BENCH_TRAINS", 200'000);

// 1, 2 and one per physical core, without duplicates.
void thread_counts(benchmark::internal::Benchmark* b) {
  unsigned all = 2;
  try {
    all = optimist::resolve_thread_count({});
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "tasks_bench: %s; using 2 threads for 'all cores'\n", e.what());
  }
  std::vector<unsigned> counts{1, 2, all};
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  for (unsigned n : counts) b->Arg(n);
}

optimist::run_options with_threads(const benchmark::State& state, bool ordered = false) {
  optimist::run_options options;
  options.threads = static_cast<unsigned>(state.range(0));
  options.ordered = ordered;
  return options;
}

[[noreturn]] void wrong_result(const char* benchmark, const char* what) {
  std::fprintf(stderr, "tasks_bench: %s: %s\n", benchmark, what);
  std::abort();
}

void report_aborts(benchmark::State& state, std::size_t tasks_per_iteration) {
  const double tasks = static_cast<double>(tasks_per_iteration) * state.iterations();
  state.counters["aborts_per_task"] = static_cast<double>(optimist::stats().aborts) / tasks;
}

// ---- empty tasks -------------------------------------------------------------------------------

void empty_task() {}

void BM_empty_tasks_optimist(benchmark::State& state) {
  const optimist::run_options options = with_threads(state);
  optimist::reset_stats();
  for (auto _ : state) {
    for (std::size_t i = 0; i < empty_tasks_per_run; ++i) optimist::add_task(&empty_task);
    optimist::run_all_tasks(options);
  }
  if (optimist::global_task_queue().pending() != 0) {
    wrong_result("BM_empty_tasks_optimist", "tasks left queued");
  }
  // A run commits consecutive tasks in one transaction: grouped_tasks counts
  // the tasks that shared the one before them.
  const optimist::statistics s = optimist::stats();
  const std::uint64_t commits = s.commits + s.grouped_tasks;
  if (commits != empty_tasks_per_run * state.iterations()) {
    wrong_result("BM_empty_tasks_optimist", "not every task committed exactly once");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(empty_tasks_per_run * state.iterations()));
}
BENCHMARK(BM_empty_tasks_optimist)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_empty_tasks_optimist_ordered(benchmark::State& state) {
  const optimist::run_options options = with_threads(state, /*ordered=*/true);
  for (auto _ : state) {
    for (std::size_t i = 0; i < empty_tasks_per_run; ++i) optimist::add_task(&empty_task);
    optimist::run_all_tasks(options);
  }
  if (optimist::global_task_queue().pending() != 0) {
    wrong_result("BM_empty_tasks_optimist_ordered", "tasks left queued");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(empty_tasks_per_run * state.iterations()));
}
BENCHMARK(BM_empty_tasks_optimist_ordered)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_empty_tasks_tbb(benchmark::State& state) {
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    arena.execute([] {
      tbb::task_group group;
      for (std::size_t i = 0; i < empty_tasks_per_run; ++i) group.run(&empty_task);
      group.wait();
    });
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(empty_tasks_per_run * state.iterations()));
}
BENCHMARK(BM_empty_tasks_tbb)->Apply(thread_counts)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- interest rate -----------------------------------------------------------------------------

constexpr double rate = 1.05;
constexpr double initial_balance = 100.0;

struct account {
  double balance;
};

std::vector<account> fresh_accounts() {
  return std::vector<account>(g_accounts, account{initial_balance});
}

// Every account must have been multiplied exactly `times` times.
void check_interest(const std::vector<account>& accounts, std::int64_t times, const char* name) {
  const double expected = initial_balance * std::pow(rate, static_cast<double>(times));
  if (!std::isfinite(expected)) {
    // (1.05^n overflows after about 14,500 runs, reachable with a small OPTIMIST_BENCH_ACCOUNTS:
    // the comparison below was then NaN, false, and the check passed whatever the balances.)
    wrong_result(name, "too many runs to check the balances (raise OPTIMIST_BENCH_ACCOUNTS)");
    return;
  }
  for (const account& a : accounts) {
    if (!(std::fabs(a.balance - expected) <= 1e-9 * expected)) {
      wrong_result(name, "an account was not updated exactly once per run");
    }
  }
}

// The seed's loop: one add_task per account (BM_interest_optimist, _run, _adds
// and _ordered time this same loop, whole or in halves).
void add_seed_tasks(std::vector<account>& accounts) {
  for (account& a : accounts) {
    optimist::add_task([&a] { optimist::store(a.balance, optimist::load(a.balance) * rate); });
  }
}

void BM_interest_optimist(benchmark::State& state) {
  const optimist::run_options options = with_threads(state);
  std::vector<account> accounts = fresh_accounts();
  optimist::reset_stats();
  for (auto _ : state) {
    add_seed_tasks(accounts);
    optimist::run_all_tasks(options);
  }
  report_aborts(state, accounts.size());
  check_interest(accounts, state.iterations(), "BM_interest_optimist");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_optimist)->Apply(thread_counts)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_interest_optimist_run(benchmark::State& state) {
  const optimist::run_options options = with_threads(state);
  std::vector<account> accounts = fresh_accounts();
  for (auto _ : state) {
    state.PauseTiming();
    add_seed_tasks(accounts);
    state.ResumeTiming();
    optimist::run_all_tasks(options);
  }
  check_interest(accounts, state.iterations(), "BM_interest_optimist_run");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_optimist_run)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The other half of BM_interest_optimist: only the adds are timed (the run that
// follows each round is paused). Its argument is the thread count of the run
// between rounds: what a run leaves behind (a worker still spinning) costs
// the next adds.
void BM_interest_optimist_adds(benchmark::State& state) {
  const optimist::run_options options = with_threads(state);
  std::vector<account> accounts = fresh_accounts();
  for (auto _ : state) {
    add_seed_tasks(accounts);
    state.PauseTiming();
    optimist::run_all_tasks(options);
    state.ResumeTiming();
  }
  check_interest(accounts, state.iterations(), "BM_interest_optimist_adds");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_optimist_adds)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_interest_optimist_bulk(benchmark::State& state) {
  const optimist::run_options options = with_threads(state);
  std::vector<account> accounts = fresh_accounts();
  optimist::reset_stats();
  for (auto _ : state) {
    optimist::add_tasks(
        accounts, [](account& a) { optimist::store(a.balance, optimist::load(a.balance) * rate); });
    optimist::run_all_tasks(options);
  }
  report_aborts(state, accounts.size());
  check_interest(accounts, state.iterations(), "BM_interest_optimist_bulk");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_optimist_bulk)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_interest_optimist_bulk_ordered(benchmark::State& state) {
  const optimist::run_options options = with_threads(state, /*ordered=*/true);
  std::vector<account> accounts = fresh_accounts();
  for (auto _ : state) {
    optimist::add_tasks(
        accounts, [](account& a) { optimist::store(a.balance, optimist::load(a.balance) * rate); });
    optimist::run_all_tasks(options);
  }
  check_interest(accounts, state.iterations(), "BM_interest_optimist_bulk_ordered");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_optimist_bulk_ordered)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The same transactions without the task runtime: tbb::parallel_for over the accounts, one
// optimist::atomically per account (the target for add_task / add_tasks).
void BM_interest_tbb_atomically(benchmark::State& state) {
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  std::vector<account> accounts = fresh_accounts();
  optimist::reset_stats();
  for (auto _ : state) {
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, accounts.size()),
                        [&](const tbb::blocked_range<std::size_t>& r) {
                          for (std::size_t i = r.begin(); i != r.end(); ++i) {
                            account& a = accounts[i];
                            optimist::atomically([&a] {
                              optimist::store(a.balance, optimist::load(a.balance) * rate);
                            });
                          }
                        });
    });
  }
  report_aborts(state, accounts.size());
  check_interest(accounts, state.iterations(), "BM_interest_tbb_atomically");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_tbb_atomically)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_interest_optimist_ordered(benchmark::State& state) {
  const optimist::run_options options = with_threads(state, /*ordered=*/true);
  std::vector<account> accounts = fresh_accounts();
  for (auto _ : state) {
    add_seed_tasks(accounts);
    optimist::run_all_tasks(options);
  }
  check_interest(accounts, state.iterations(), "BM_interest_optimist_ordered");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_optimist_ordered)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_interest_sequential(benchmark::State& state) {
  std::vector<account> accounts = fresh_accounts();
  for (auto _ : state) {
    for (account& a : accounts) a.balance *= rate;
    benchmark::ClobberMemory();
  }
  check_interest(accounts, state.iterations(), "BM_interest_sequential");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_sequential)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

std::mutex g_global_mutex;

void BM_interest_mutex(benchmark::State& state) {
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  std::vector<account> accounts = fresh_accounts();
  for (auto _ : state) {
    arena.execute([&] {
      tbb::task_group group;
      for (account& a : accounts) {
        group.run([&a] {
          std::lock_guard<std::mutex> lock(g_global_mutex);
          a.balance *= rate;
        });
      }
      group.wait();
    });
  }
  check_interest(accounts, state.iterations(), "BM_interest_mutex");
  state.SetItemsProcessed(static_cast<std::int64_t>(accounts.size() * state.iterations()));
}
BENCHMARK(BM_interest_mutex)->Apply(thread_counts)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- train schedule ----------------------------------------------------------------------------

// The kernel of samples/train_schedule.cpp (bench/train/network.hpp): a random acyclic network
// in which each train waits for up to four trains of lower rank.
using train::recompute;
using train_network = train::network;

const train_network& network() {
  return train::shared_network(g_trains);
}

// Every model's iteration is the first sweep from the earliest times (before, each iteration
// swept on from where the last one stopped: the schedule converges after about 28 sweeps, so
// models that fit more iterations into the time timed mostly read-only sweeps). The reset is
// not timed.
void restart_sweeps(benchmark::State& state, std::vector<long>& start) {
  state.PauseTiming();
  start = network().earliest;
  state.ResumeTiming();
}

// The sequential sweeps' result after `sweeps` sweeps, for checking.
std::vector<long> sequential_schedule(std::int64_t sweeps) {
  const train_network& n = network();
  std::vector<long> start = n.earliest;
  for (std::int64_t s = 0; s < sweeps; ++s) {
    for (std::size_t t = 0; t < start.size(); ++t) {
      start[t] = recompute(n, t, [&](std::size_t f) { return start[f]; });
    }
  }
  return start;
}

void check_one_sweep(const std::vector<long>& start, const char* name) {
  static const std::vector<long> expected = sequential_schedule(1);
  if (start != expected) wrong_result(name, "the sweep differs from the sequential loop's");
}

// A sweep in some serial order of its trains: start times only grow from the earliest times
// toward the fixed point, never past it.
void check_unordered_sweep(const std::vector<long>& start, const char* name) {
  const train_network& n = network();
  static const std::vector<long> fixed_point = train::fixed_point(n);
  for (std::size_t t = 0; t < start.size(); ++t) {
    if (start[t] < n.earliest[t] || start[t] > fixed_point[t]) {
      wrong_result(name, "a start time left the range of the schedule's sweeps");
      return;
    }
  }
}

void train_optimist(benchmark::State& state, bool ordered, const char* name) {
  const train_network& n = network();
  const optimist::run_options options = with_threads(state, ordered);
  std::vector<long> start = n.earliest;
  optimist::reset_stats();
  for (auto _ : state) {
    restart_sweeps(state, start);
    for (std::size_t t = 0; t < start.size(); ++t) {
      optimist::add_task([&n, &start, t] {
        const long s = recompute(n, t, [&](std::size_t f) { return optimist::load(start[f]); });
        if (s != optimist::load(start[t])) optimist::store(start[t], s);
      });
    }
    optimist::run_all_tasks(options);
  }
  report_aborts(state, start.size());
  // Ordered: the sweep is the sequential sweep. Unordered: some serial order of the sweep.
  if (ordered) {
    check_one_sweep(start, name);
  } else {
    check_unordered_sweep(start, name);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(start.size() * state.iterations()));
}

void BM_train_optimist(benchmark::State& state) {
  train_optimist(state, false, "BM_train_optimist");
}
BENCHMARK(BM_train_optimist)->Apply(thread_counts)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_train_optimist_ordered(benchmark::State& state) {
  train_optimist(state, true, "BM_train_optimist_ordered");
}
BENCHMARK(BM_train_optimist_ordered)
    ->Apply(thread_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_train_sequential(benchmark::State& state) {
  const train_network& n = network();
  std::vector<long> start = n.earliest;
  for (auto _ : state) {
    restart_sweeps(state, start);
    for (std::size_t t = 0; t < start.size(); ++t) {
      start[t] = recompute(n, t, [&](std::size_t f) { return start[f]; });
    }
    benchmark::ClobberMemory();
  }
  check_one_sweep(start, "BM_train_sequential");
  state.SetItemsProcessed(static_cast<std::int64_t>(start.size() * state.iterations()));
}
BENCHMARK(BM_train_sequential)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_train_mutex(benchmark::State& state) {
  const train_network& n = network();
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  std::vector<long> start = n.earliest;
  for (auto _ : state) {
    restart_sweeps(state, start);
    arena.execute([&] {
      tbb::task_group group;
      for (std::size_t t = 0; t < start.size(); ++t) {
        group.run([&n, &start, t] {
          std::lock_guard<std::mutex> lock(g_global_mutex);
          start[t] = recompute(n, t, [&](std::size_t f) { return start[f]; });
        });
      }
      group.wait();
    });
  }
  check_unordered_sweep(start, "BM_train_mutex");
  state.SetItemsProcessed(static_cast<std::int64_t>(start.size() * state.iterations()));
}
BENCHMARK(BM_train_mutex)->Apply(thread_counts)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
