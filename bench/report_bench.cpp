// bench/report_bench.cpp — what conflict reporting costs, and what an inevitable transaction
// costs the others.
//
//   train schedule   sweeps of the samples/train_schedule.cpp kernel as optimist tasks, one task
//                    per train (bench/train/network.hpp; 200k trains, OPTIMIST_BENCH_TRAINS),
//                    unordered; 4 sweeps (iterations) per run, each run from the same start
//     BM_train_report_off              reporting disabled (the default)
//     BM_train_report_on               optimist::report::enable() + reset() before the run,
//                                      disabled after it: every transaction is timed and every
//                                      conflict recorded with both sites
//     overhead = report_on time / report_off time at the same thread count (target <= 1.05)
//     BM_train_report_paired           both in one run, sweep against sweep; its on_over_off
//                                      counter is the same ratio, far less sensitive to load
//                                      that comes and goes
//   independent writers   each writer thread commits small transactions on its own word
//                    (load + store of one word, cache lines apart); the argument is the number
//                    of writers; items_per_second counts the writers' transactions only
//     BM_independent_writers_alone           nothing else runs
//     BM_independent_writers_with_inevitable  one more thread runs a long inevitable transaction
//                                      over and over (become_inevitable(), then writes its own
//                                      words and spins ~20 us): it holds the inevitability
//                                      token nearly all the time, but touches nothing the
//                                      writers touch, so they should not notice it
//     BM_independent_writers_with_busy_thread  the control: the other thread runs the same loop
//                                      without transactions; it only takes a core
//     ratio = with_inevitable items/s / alone items/s (target >= 0.8); meaningful only when the
//     other thread has a core of its own (writers <= cores - 1, and no other load). Where it
//     has not, compare with_inevitable with with_busy_thread (what is left is the STM's doing),
//     or use writer0_tx_per_cpu_s (writer 0's transactions per second of its own CPU time),
//     which does not depend on the share of the machine the writers got.
//
// Thread counts: 1 and 2 for the train schedule; 1 and cores - 1 writers. Real time throughout.
// On a shared machine, take medians and interleave the repetitions:
//
//   build/…/report_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//                        --benchmark_enable_random_interleaving=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <thread>
#include <vector>

#include "common/environment.hpp"
#include "optimist/optimist.hpp"
#include "optimist/report.hpp"
#include "train/network.hpp"

namespace {

const std::size_t g_trains = bench::size_from_environment("OPTIMIST_BENCH_TRAINS", 200'000);

[[noreturn]] void wrong_result(const char* benchmark, const char* what) {
  std::fprintf(stderr, "report_bench: %s: %s\n", benchmark, what);
  std::abort();
}

// ---- train schedule ----------------------------------------------------------------------------

// One sweep: a task per train, run to the end.
void sweep(const train::network& n, std::vector<long>& start,
           const optimist::run_options& options) {
  for (std::size_t t = 0; t < start.size(); ++t) {
    optimist::add_task([&n, &start, t] {
      const long s =
          train::recompute(n, t, [&](std::size_t f) { return optimist::load(start[f]); });
      if (s != optimist::load(start[t])) optimist::store(start[t], s);
    });
  }
  optimist::run_all_tasks(options);
}

void check_schedule(const train::network& n, const std::vector<long>& start, const char* name) {
  static const std::vector<long> fixed_point = train::fixed_point(n);
  for (std::size_t t = 0; t < start.size(); ++t) {
    if (start[t] > fixed_point[t]) wrong_result(name, "a start time passed the fixed point");
  }
}

optimist::run_options with_threads(const benchmark::State& state) {
  optimist::run_options options;
  options.threads = static_cast<unsigned>(state.range(0));
  return options;
}

void train_sweeps(benchmark::State& state, bool reporting, const char* name) {
  const train::network& n = train::shared_network(g_trains);
  const optimist::run_options options = with_threads(state);
  std::vector<long> start = n.earliest;
  if (reporting) {
    optimist::report::enable();
    optimist::report::reset();
  }
  optimist::reset_stats();
  for (auto _ : state) sweep(n, start, options);
  const double tasks = static_cast<double>(start.size()) * static_cast<double>(state.iterations());
  state.counters["aborts_per_task"] = static_cast<double>(optimist::stats().aborts) / tasks;
  if (reporting) {
    const optimist::report::profile p = optimist::report::snapshot();
    optimist::report::enable(false);
    if (p.totals.commits != optimist::stats().commits) {
      wrong_result(name, "the report did not count every committed task");
    }
    state.counters["conflict_groups"] = static_cast<double>(p.conflicts.size());
  }
  check_schedule(n, start, name);
  state.SetItemsProcessed(static_cast<std::int64_t>(tasks));
}

// A fixed number of sweeps from the same start: later sweeps change fewer trains, so both
// variants must run the same ones.
constexpr int sweeps_per_run = 4;

void BM_train_report_off(benchmark::State& state) {
  train_sweeps(state, false, "BM_train_report_off");
}
BENCHMARK(BM_train_report_off)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(sweeps_per_run)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_train_report_on(benchmark::State& state) {
  train_sweeps(state, true, "BM_train_report_on");
}
BENCHMARK(BM_train_report_on)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(sweeps_per_run)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Both variants in one run, sweep against sweep: each iteration runs the next sweep of one
// schedule with reporting off and of another with reporting on (in alternating order), so load
// that comes and goes on a shared machine falls on both alike. on_over_off is the ratio of
// their summed times; the iteration time is that of both sweeps.
void BM_train_report_paired(benchmark::State& state) {
  const train::network& n = train::shared_network(g_trains);
  const optimist::run_options options = with_threads(state);
  std::vector<long> start_off = n.earliest;
  std::vector<long> start_on = n.earliest;
  optimist::report::enable(false);
  optimist::report::reset();
  double off_s = 0, on_s = 0;
  bool on_first = false;
  for (auto _ : state) {
    for (const bool on : {on_first, !on_first}) {
      optimist::report::enable(on);
      const auto begin = std::chrono::steady_clock::now();
      sweep(n, on ? start_on : start_off, options);
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - begin;
      (on ? on_s : off_s) += took.count();
    }
    on_first = !on_first;
  }
  optimist::report::enable(false);
  if (start_on != start_off && options.threads == 1) {
    wrong_result("BM_train_report_paired", "one thread, same sweeps, different schedules");
  }
  check_schedule(n, start_off, "BM_train_report_paired");
  check_schedule(n, start_on, "BM_train_report_paired");
  state.counters["on_over_off"] = on_s / off_s;
  state.SetItemsProcessed(static_cast<std::int64_t>(2 * start_on.size() * state.iterations()));
}
BENCHMARK(BM_train_report_paired)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(2 * sweeps_per_run)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- independent writers -----------------------------------------------------------------------

constexpr long transactions_per_batch = 20'000;  // per writer and benchmark iteration

struct alignas(64) own_word {
  long value = 0;
};

enum class other_thread {
  none,
  busy,        // the same loop as `inevitable`, without a transaction: only takes a core
  inevitable,  // long inevitable transactions on words of its own
};

// A thread that runs the other_thread loop until stopped.
class background_loop {
 public:
  explicit background_loop(other_thread kind) : kind_(kind), thread_([this] { run(); }) {}
  ~background_loop() {
    stop_.store(true);
    thread_.join();
  }
  background_loop(const background_loop&) = delete;
  background_loop& operator=(const background_loop&) = delete;

  long rounds() const { return rounds_.load(); }

 private:
  static void spin() {
    for (int i = 0; i < 500; ++i) {  // ~20 us that are not transactional
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  void run() {
    while (!stop_.load(std::memory_order_relaxed)) {
      if (kind_ == other_thread::inevitable) {
        optimist::atomically([&] {
          optimist::become_inevitable();
          for (own_word& w : words_) optimist::store(w.value, optimist::load(w.value) + 1);
          spin();
        });
      } else {
        for (own_word& w : words_) w.value += 1;
        spin();
      }
      rounds_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  const other_thread kind_;
  std::atomic<bool> stop_{false};
  std::atomic<long> rounds_{0};
  own_word words_[16];
  std::thread thread_;  // last: starts once the members above exist
};

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

void write_batch(own_word& w) {
  for (long i = 0; i < transactions_per_batch; ++i) {
    optimist::atomically([&] { optimist::store(w.value, optimist::load(w.value) + 1); });
  }
}

// The benchmark's thread is writer 0; writers 1.. are threads of their own that run one batch
// per iteration, released and collected with barriers.
void independent_writers(benchmark::State& state, other_thread other, const char* name) {
  const auto writers = static_cast<std::size_t>(state.range(0));
  std::vector<own_word> words(writers);
  std::barrier<> start(static_cast<std::ptrdiff_t>(writers));
  std::barrier<> done(static_cast<std::ptrdiff_t>(writers));
  std::atomic<bool> quit{false};
  std::vector<std::thread> helpers;
  for (std::size_t i = 1; i < writers; ++i) {
    helpers.emplace_back([&, i] {
      for (;;) {
        start.arrive_and_wait();
        if (quit.load()) return;
        write_batch(words[i]);
        done.arrive_and_wait();
      }
    });
  }
  long other_rounds = 0;
  double writer0_cpu_s = 0;
  optimist::reset_stats();
  {
    std::unique_ptr<background_loop> background;
    if (other != other_thread::none) background = std::make_unique<background_loop>(other);
    for (auto _ : state) {
      start.arrive_and_wait();
      const double cpu_before = thread_cpu_seconds();
      write_batch(words[0]);
      writer0_cpu_s += thread_cpu_seconds() - cpu_before;
      done.arrive_and_wait();
    }
    if (background) other_rounds = background->rounds();
  }
  quit.store(true);
  start.arrive_and_wait();
  for (std::thread& t : helpers) t.join();

  const auto batches = static_cast<long>(state.iterations());
  for (const own_word& w : words) {
    if (w.value != batches * transactions_per_batch) wrong_result(name, "a write was lost");
  }
  const double writes = static_cast<double>(writers) * static_cast<double>(batches) *
                        static_cast<double>(transactions_per_batch);
  state.counters["aborts_per_tx"] = static_cast<double>(optimist::stats().aborts) / writes;
  // Writer 0's transactions per second of its own CPU time: unlike items_per_second, blind to
  // how many cores the machine could spare (the inevitable thread needs one of its own).
  state.counters["writer0_tx_per_cpu_s"] =
      static_cast<double>(batches * transactions_per_batch) / writer0_cpu_s;
  if (other != other_thread::none)
    state.counters["other_rounds"] = static_cast<double>(other_rounds);
  state.SetItemsProcessed(static_cast<std::int64_t>(writes));
}

// 1 writer, and one per core but one (the inevitable thread's), without duplicates.
void writer_counts(benchmark::internal::Benchmark* b) {
  const unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  b->Arg(1);
  if (cores - 1 > 1) b->Arg(cores - 1);
}

void BM_independent_writers_alone(benchmark::State& state) {
  independent_writers(state, other_thread::none, "BM_independent_writers_alone");
}
BENCHMARK(BM_independent_writers_alone)
    ->Apply(writer_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_independent_writers_with_busy_thread(benchmark::State& state) {
  independent_writers(state, other_thread::busy, "BM_independent_writers_with_busy_thread");
}
BENCHMARK(BM_independent_writers_with_busy_thread)
    ->Apply(writer_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_independent_writers_with_inevitable(benchmark::State& state) {
  independent_writers(state, other_thread::inevitable, "BM_independent_writers_with_inevitable");
}
BENCHMARK(BM_independent_writers_with_inevitable)
    ->Apply(writer_counts)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
