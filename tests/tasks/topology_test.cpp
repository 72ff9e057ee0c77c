// How many workers a run gets and where they run: run_options::threads (also
// above the core count), the OPTIMIST_THREADS environment variable, hwloc's
// physical core count with its fallback, and run_options::pin_threads.
#include <gtest/gtest.h>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"
#include "tasks/topology.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace topology_test {

namespace {

using optimist::test::concurrency_probe;
using optimist::test::run_with;
using std::chrono::milliseconds;

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class scoped_environment {
 public:
  scoped_environment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    set(value);
  }
  ~scoped_environment() { set(previous_ ? previous_->c_str() : nullptr); }
  scoped_environment(const scoped_environment&) = delete;
  scoped_environment& operator=(const scoped_environment&) = delete;

  void set(const char* value) {
    if (value != nullptr) {
      ::setenv(name_.c_str(), value, 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

unsigned probe_finds_nothing() {
  return 0;
}
unsigned probe_finds_three() {
  return 3;
}
std::atomic<int> probe_calls{0};
unsigned counting_probe() {
  probe_calls.fetch_add(1);
  return 3;
}

// What the default thread count falls back to without hwloc: the CPUs this thread may run on.
unsigned hardware_threads() {
  const unsigned allowed = optimist::detail::allowed_cpus();
  return std::max(1u, allowed > 0 ? allowed : std::thread::hardware_concurrency());
}

// `n` as the default thread count gives it: capped by this process's cgroup CPU quota.
unsigned capped(unsigned n) {
  const unsigned quota = optimist::detail::cgroup_cpu_quota_cores();
  return quota > 0 && quota < n ? quota : n;
}

// --- choose_thread_count (white box, "tasks/topology.hpp") --------------------------------------

TEST(ThreadCountChoice, ProbeFindingNoCoresFallsBackToHardwareConcurrencyWithAWarning) {
  scoped_environment unset("OPTIMIST_THREADS", nullptr);
  std::ostringstream warnings;
  EXPECT_EQ(optimist::detail::choose_thread_count(0, &probe_finds_nothing, warnings),
            capped(hardware_threads()));
  const std::string text = warnings.str();
  EXPECT_NE(text.find("hwloc reports no cores"), std::string::npos) << text;
  EXPECT_NE(text.find("using the CPUs this thread may run on, " +
                      std::to_string(capped(hardware_threads())) + " threads"),
            std::string::npos)
      << text;

  std::ostringstream no_probe;
  EXPECT_EQ(optimist::detail::choose_thread_count(0, nullptr, no_probe),
            capped(hardware_threads()));
  EXPECT_NE(no_probe.str().find("hwloc reports no cores"), std::string::npos);
}

TEST(ThreadCountChoice, ProbeResultIsUsedSilently) {
  scoped_environment unset("OPTIMIST_THREADS", nullptr);
  std::ostringstream warnings;
  EXPECT_EQ(optimist::detail::choose_thread_count(0, &probe_finds_three, warnings), capped(3));
  EXPECT_EQ(warnings.str(), "");
}

// A cgroup's cpu.max line: "<quota> <period>" in microseconds, a part of a core counting as one.
TEST(ThreadCountChoice, CpuQuotaLinesGiveWholeCores) {
  using optimist::detail::cpu_quota_cores;
  EXPECT_EQ(cpu_quota_cores("max 100000"), 0u);
  EXPECT_EQ(cpu_quota_cores("200000 100000"), 2u);
  EXPECT_EQ(cpu_quota_cores("200000 100000\n"), 2u);
  EXPECT_EQ(cpu_quota_cores("150000 100000"), 2u);
  EXPECT_EQ(cpu_quota_cores("50000 100000"), 1u);
  EXPECT_EQ(cpu_quota_cores("-1 100000"), 0u);  // cgroup v1's "no limit"
  EXPECT_EQ(cpu_quota_cores("100000 0"), 0u);
  EXPECT_EQ(cpu_quota_cores("abc"), 0u);
  EXPECT_EQ(cpu_quota_cores(""), 0u);
}

// Narrows the calling thread's CPU mask to one of its CPUs (the first or the last) for a scope,
// and gives it back its mask after.
class one_cpu_mask {
 public:
  explicit one_cpu_mask(bool last) {
    ok_ = sched_getaffinity(0, sizeof before_, &before_) == 0;
    for (int cpu = 0; ok_ && cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &before_) && (last || cpu_ < 0)) cpu_ = cpu;
    }
    CPU_ZERO(&one_);
    if (cpu_ >= 0) CPU_SET(cpu_, &one_);
    ok_ = ok_ && cpu_ >= 0 && sched_setaffinity(0, sizeof one_, &one_) == 0;
  }
  ~one_cpu_mask() {
    if (ok_) sched_setaffinity(0, sizeof before_, &before_);
  }
  one_cpu_mask(const one_cpu_mask&) = delete;
  one_cpu_mask& operator=(const one_cpu_mask&) = delete;
  bool ok() const { return ok_; }
  int cpu() const { return cpu_; }
  const cpu_set_t& mask() const { return one_; }

 private:
  cpu_set_t before_;
  cpu_set_t one_;
  int cpu_ = -1;
  bool ok_ = false;
};

// The default counts only the cores the calling thread may run on (taskset, numactl): before,
// hwloc counted every core of the machine, so a run under `taskset -c 0` started a worker per
// core, all on one CPU.
TEST(ThreadCountChoice, DefaultCountsOnlyCoresThisThreadMayRunOn) {
  scoped_environment unset("OPTIMIST_THREADS", nullptr);
  if (optimist::detail::hwloc_physical_cores() < 2) GTEST_SKIP() << "one core: nothing to narrow";
  unsigned cores = 0;
  unsigned fallback = 0;
  {
    one_cpu_mask narrowed(false);
    ASSERT_TRUE(narrowed.ok());
    cores = optimist::detail::hwloc_physical_cores();
    std::ostringstream warnings;
    fallback = optimist::detail::choose_thread_count(0, &probe_finds_nothing, warnings);
  }
  EXPECT_EQ(cores, 1u);
  EXPECT_EQ(fallback, 1u);
}

// Pinning (run_options::pin_threads) stays inside the thread's CPU mask: worker i goes to the
// i-th core the mask allows. Before, it went to core i of the machine, widening the mask.
TEST(ThreadPinning, StaysInsideTheThreadsCpuMask) {
  if (optimist::detail::hwloc_physical_cores() < 2) GTEST_SKIP() << "one core: nothing to narrow";
  one_cpu_mask narrowed(true);
  ASSERT_TRUE(narrowed.ok());
  bool inside = true;
  for (unsigned index = 0; index < 4; ++index) {
    if (!optimist::detail::pin_this_thread_to_core(index)) continue;  // hwloc cannot bind here
    cpu_set_t now;
    ASSERT_EQ(sched_getaffinity(0, sizeof now, &now), 0);
    inside = inside && CPU_COUNT(&now) == 1 && CPU_ISSET(narrowed.cpu(), &now);
  }
  EXPECT_TRUE(optimist::detail::restore_this_thread_binding());
  cpu_set_t restored;
  ASSERT_EQ(sched_getaffinity(0, sizeof restored, &restored), 0);
  EXPECT_TRUE(CPU_EQUAL(&restored, &narrowed.mask()));  // the mask before the first pin
  EXPECT_TRUE(inside) << "a pinned thread left its CPU mask";
}

TEST(ThreadCountChoice, RequestedCountWinsOverEnvironmentAndProbe) {
  scoped_environment env("OPTIMIST_THREADS", "abc");  // not even looked at
  std::ostringstream warnings;
  probe_calls = 0;
  EXPECT_EQ(optimist::detail::choose_thread_count(5, &counting_probe, warnings), 5u);
  EXPECT_EQ(probe_calls.load(), 0);
  EXPECT_EQ(warnings.str(), "");
  optimist::run_options options;
  options.threads = 7;
  EXPECT_EQ(optimist::resolve_thread_count(options), 7u);
}

TEST(ThreadCountChoice, EnvironmentVariableWinsOverTheProbe) {
  scoped_environment env("OPTIMIST_THREADS", "3");
  std::ostringstream warnings;
  probe_calls = 0;
  EXPECT_EQ(optimist::detail::choose_thread_count(0, &counting_probe, warnings), 3u);
  EXPECT_EQ(probe_calls.load(), 0);
  env.set("5");
  EXPECT_EQ(optimist::resolve_thread_count({}), 5u);
  env.set("4096");
  EXPECT_EQ(optimist::resolve_thread_count({}), 4096u);
  // Empty counts as unset.
  env.set("");
  EXPECT_EQ(optimist::detail::choose_thread_count(0, &counting_probe, warnings), capped(3));
  EXPECT_EQ(probe_calls.load(), 1);
}

TEST(ThreadCountChoice, MalformedEnvironmentVariableIsRejected) {
  scoped_environment env("OPTIMIST_THREADS", nullptr);
  for (const char* bad : {"abc", "0", "-3", "3x", "4097", "99999999999999999999999", " 4", "+4"}) {
    env.set(bad);
    try {
      (void)optimist::resolve_thread_count({});
      ADD_FAILURE() << "OPTIMIST_THREADS='" << bad << "' was accepted";
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("OPTIMIST_THREADS"), std::string::npos) << message;
      EXPECT_NE(message.find(std::string("'") + bad + "'"), std::string::npos) << message;
    }
  }

  // A run that would need the variable fails before touching its tasks.
  env.set("abc");
  optimist::task_queue q;
  long runs = 0;
  q.add([&] { optimist::store(runs, optimist::load(runs) + 1); });
  EXPECT_THROW(q.run(), std::invalid_argument);
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(runs, 0);
  q.run(run_with(1));  // an explicit count does not read it
  EXPECT_EQ(runs, 1);
}

TEST(ThreadCountChoice, HwlocCountsThisMachinesCores) {
  scoped_environment unset("OPTIMIST_THREADS", nullptr);
  const unsigned cores = optimist::detail::hwloc_physical_cores();
  EXPECT_GE(cores, 1u);
  EXPECT_LE(cores, hardware_threads());
  EXPECT_EQ(optimist::resolve_thread_count({}), cores) << "the default is one worker per core";
}

// --- How many tasks a run really executes at once -----------------------------------------------

class ThreadCountTest : public ::testing::TestWithParam<int> {};

// Also with more threads than this machine has cores: the runtime must start
// them, not quietly cap at the core count.
TEST_P(ThreadCountTest, RunExecutesExactlyThatManyTasksAtOnce) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("tasks that wait for each other inside their blocks");
  const int threads = GetParam();
  {
    concurrency_probe probe(threads, milliseconds(20000));
    optimist::task_queue q;
    for (int i = 0; i < threads; ++i) q.add(probe.task());
    q.run(run_with(threads));
    EXPECT_EQ(probe.peak(), threads) << "fewer workers than asked for";
  }
  {
    // One task more than workers: they can never all be inside at once.
    concurrency_probe probe(threads + 1, milliseconds(150));
    optimist::task_queue q;
    for (int i = 0; i < threads + 1; ++i) q.add(probe.task());
    q.run(run_with(threads));
    EXPECT_LE(probe.peak(), threads) << "more workers than asked for";
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, ThreadCountTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

// One queue keeps its arena from run to run while the thread count stays the
// same, and replaces it when the count changes: every run still executes
// exactly as many tasks at once as it asked for, never more.
TEST(ThreadCountSequence, RunsOfOneQueueEachGetExactlyTheirThreads) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("tasks that wait for each other inside their blocks");
  optimist::task_queue q;
  for (int threads : {2, 2, 4, 4, 1, 2, 3, 3}) {
    {
      concurrency_probe probe(threads, milliseconds(20000));
      for (int i = 0; i < threads; ++i) q.add(probe.task());
      q.run(run_with(threads));
      EXPECT_EQ(probe.peak(), threads) << "fewer workers than asked for";
    }
    {
      concurrency_probe probe(threads + 1, milliseconds(100));
      for (int i = 0; i < threads + 1; ++i) q.add(probe.task());
      q.run(run_with(threads));
      EXPECT_LE(probe.peak(), threads) << "more workers than asked for";
    }
  }
}

// How many different threads executed the tasks of one run of `tasks` short
// busy tasks (nothing waits: the workers must join on their own).
int threads_used_by_a_run(int threads, int tasks) {
  std::vector<std::thread::id> executed_by(static_cast<std::size_t>(tasks));
  optimist::task_queue q;
  for (int i = 0; i < tasks; ++i) {
    q.add([&executed_by, i] {
      // No transactional state: one attempt, so the plain store is its only run.
      executed_by[static_cast<std::size_t>(i)] = std::this_thread::get_id();
      (void)optimist::test::busy_work(static_cast<std::uint64_t>(i), 20000);
    });
  }
  // Speculative blocks whatever the process mode: a run whose blocks run
  // serially keeps them on one worker while it makes progress (serial_lane.hpp),
  // and then a worker joins only when the holder loses its CPU (serial mode
  // on a loaded machine: 6 failures in 15, "2:2 4:1 2:1 4:1 ...").
  optimist::run_options options = run_with(threads);
  options.mode = optimist::execution_mode::stm;
  q.run(options);
  std::sort(executed_by.begin(), executed_by.end());
  return static_cast<int>(std::unique(executed_by.begin(), executed_by.end()) -
                          executed_by.begin());
}

// Runs follow each other with different thread counts, as in any program with
// several parallel loops: each run must still get the workers it asks for.
// (A run that changes oneTBB's process-wide parallelism limit for its own
// duration leaves the next runs with a single thread.)
TEST(ThreadCountSequence, BackToBackRunsEachGetTheirWorkers) {
  constexpr int tasks = 2000;  // ~20 µs each: tens of milliseconds per run
  int runs = 0;
  int runs_with_a_worker = 0;
  std::string seen;
  for (int threads : {2, 4, 2, 4, 2, 4, 2, 1}) {
    const int used = threads_used_by_a_run(threads, tasks);
    seen += " " + std::to_string(threads) + ":" + std::to_string(used);
    if (threads == 1) {
      EXPECT_EQ(used, 1);
      continue;
    }
    ++runs;
    // At least one worker besides the caller. (More threads than asked for is
    // fine here: a worker may leave the arena and another take its slot;
    // ThreadCountTest bounds how many run *at once*.)
    if (used >= 2) ++runs_with_a_worker;
  }
  // A loaded machine may keep a worker away for a whole run, not for most.
  EXPECT_GE(runs_with_a_worker, runs - 2)
      << "threads asked for:threads that ran tasks, run after run:" << seen;
}

TEST(ThreadCountEnvironment, RunAllTasksHonoursOptimistThreads) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("tasks that wait for each other inside their blocks");
  ASSERT_EQ(optimist::global_task_queue().pending(), 0u);
  scoped_environment env("OPTIMIST_THREADS", "4");
  {
    concurrency_probe probe(4, milliseconds(20000));
    for (int i = 0; i < 4; ++i) optimist::add_task(probe.task());
    optimist::run_all_tasks();
    EXPECT_EQ(probe.peak(), 4);
  }
  env.set("1");
  {
    concurrency_probe probe(2, milliseconds(150));
    for (int i = 0; i < 2; ++i) optimist::add_task(probe.task());
    optimist::run_all_tasks();
    EXPECT_EQ(probe.peak(), 1);
  }
  EXPECT_EQ(optimist::global_task_queue().pending(), 0u);
}

// --- Pinning ------------------------------------------------------------------------------------

#if defined(__linux__)
int cpus_this_thread_may_use() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}
#endif

class PinnedRunTest : public ::testing::TestWithParam<int> {};

TEST_P(PinnedRunTest, EveryTaskRunsExactlyOnce) {
  const std::size_t count = static_cast<std::size_t>(optimist::test::scaled(5000));
  std::vector<long> runs(count, 0);
  optimist::tvar<long> total{0};
  optimist::task_queue q;
  for (std::size_t i = 0; i < count; ++i) {
    q.add([&, i] {
      optimist::store(runs[i], optimist::load(runs[i]) + 1);
      total.set(total.get() + 1);
    });
  }
  optimist::run_options options = run_with(GetParam());
  options.pin_threads = true;
  {
    optimist::test::watchdog guard("running tasks on pinned workers");
    // On a thread of its own, so that whatever binding the run leaves on its
    // caller cannot leak into the tests that follow.
    std::thread([&] { q.run(options); }).join();
  }
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(total.get(), static_cast<long>(count));
  for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(runs[i], 1) << "task " << i;
}

INSTANTIATE_TEST_SUITE_P(Threads, PinnedRunTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

#if defined(__linux__)
// pin_threads binds the run's workers while it runs; the thread that called
// run() — and oneTBB's worker threads, which later runs and any other oneTBB
// code in the process reuse — must not stay bound to one core afterwards.
TEST(PinnedRun, BindingEndsWithTheRun) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("tasks that wait for each other inside their blocks");
  const int all_cpus = cpus_this_thread_may_use();
  ASSERT_GT(all_cpus, 0);
  if (optimist::detail::hwloc_physical_cores() < 2) GTEST_SKIP() << "needs two cores";
  bool can_bind = false;
  std::thread([&] { can_bind = optimist::detail::pin_this_thread_to_core(0); }).join();
  if (!can_bind) GTEST_SKIP() << "hwloc cannot bind threads here";

  // Two tasks that wait for each other, each noting how many CPUs its thread
  // may use (the smallest seen). No transactional state: one attempt each.
  auto fewest_cpus_seen_by_a_run = [](optimist::run_options options) {
    std::atomic<int> fewest{1 << 30};
    concurrency_probe probe(2, milliseconds(5000));
    optimist::task_queue q;
    for (int i = 0; i < 2; ++i) {
      q.add([&, task = probe.task()] {
        const int cpus = cpus_this_thread_may_use();
        int seen = fewest.load();
        while (cpus < seen && !fewest.compare_exchange_weak(seen, cpus)) {
        }
        task();
      });
    }
    q.run(options);
    return fewest.load();
  };

  optimist::run_options pinned = run_with(2);
  pinned.pin_threads = true;
  int fewest_pinned = 0;
  int caller_before = 0;
  int caller_after = 0;
  std::thread([&] {
    caller_before = cpus_this_thread_may_use();
    fewest_pinned = fewest_cpus_seen_by_a_run(pinned);
    caller_after = cpus_this_thread_may_use();
  }).join();
  EXPECT_LT(fewest_pinned, all_cpus) << "pin_threads did not bind the workers";
  EXPECT_EQ(caller_after, caller_before) << "the thread that called run() stayed bound";

  int fewest_unpinned = 0;
  std::thread([&] { fewest_unpinned = fewest_cpus_seen_by_a_run(run_with(2)); }).join();
  EXPECT_EQ(fewest_unpinned, all_cpus)
      << "a run without pin_threads ran tasks on a worker still bound by an earlier run";
}
#endif

}  // namespace

}  // namespace topology_test
