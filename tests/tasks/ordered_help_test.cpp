// Ordered runs at scale (issue 16): sweeps of a dependent workload give
// exactly the sequential loop's result at any thread count, and a turn whose
// task stalls (its thread descheduled, or just slow) does not hold every later
// one up: a waiting group runs the stalled turns itself and commits them
// (INVARIANT helped-turns-are-elements, runtime/tasks/task_queue_state.hpp) —
// without changing what the run commits, where it stops, or what it leaves
// pending.
//
// The stalled task sleeps in its first execution only (a plain atomic flag,
// outside any transaction): the run is ordered, so every later task must wait
// for it — unless someone else commits it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace ordered_help_test {

namespace {

using optimist::test::busy_work;
using optimist::test::run_with;
using optimist::test::scaled;
using optimist::test::watchdog;
using u64 = std::uint64_t;

struct task_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A number per thread, for recording which thread committed a task.
u64 this_thread_token() {
  static std::atomic<u64> next{1};
  thread_local const u64 token = next.fetch_add(1);
  return token;
}

// The train-schedule kernel (bench/train/network.hpp): each element waits for
// up to four others, earlier or later in the loop; a sweep recomputes every
// element from its feeders' current values, so the result depends on the
// order of the sweep (a later element reads an earlier one's new value, an
// earlier one a later one's old value). Cycles are allowed: values then keep
// growing from sweep to sweep, just as deterministically.
struct network {
  explicit network(std::size_t size) : duration(size), earliest(size), feeders(size) {
    std::mt19937_64 random(20240601);
    for (std::size_t i = 0; i < size; ++i) {
      duration[i] = 10 + static_cast<long>(random() % 120);
      earliest[i] = static_cast<long>(random() % 600);
      const std::size_t count = 1 + random() % 4;
      for (std::size_t k = 0; k < count; ++k) {
        const std::size_t feeder = random() % size;
        if (feeder != i) feeders[i].push_back(feeder);
      }
    }
  }
  template <class StartOf>
  long recompute(std::size_t t, StartOf&& start_of) const {
    long start = earliest[t];
    for (std::size_t f : feeders[t]) start = std::max(start, start_of(f) + duration[f] + 5);
    return start;
  }
  std::vector<long> duration;
  std::vector<long> earliest;
  std::vector<std::vector<std::size_t>> feeders;
};

std::vector<long> sequential_sweeps(const network& n, int sweeps) {
  std::vector<long> start = n.earliest;
  for (int s = 0; s < sweeps; ++s) {
    for (std::size_t t = 0; t < start.size(); ++t) {
      start[t] = n.recompute(t, [&](std::size_t f) { return start[f]; });
    }
  }
  return start;
}

enum class add_kind { add_task_loop, add_tasks_range, single_tasks };

class OrderedSweepTest : public ::testing::TestWithParam<int> {
 protected:
  void check_sweeps(add_kind kind) {
    const std::size_t size = static_cast<std::size_t>(scaled(3000));
    constexpr int sweeps = 4;
    const network n(size);
    std::vector<long> start = n.earliest;
    auto task = [&n, &start](std::size_t t) {
      const long s = n.recompute(t, [&](std::size_t f) { return optimist::load(start[f]); });
      if (s != optimist::load(start[t])) optimist::store(start[t], s + (busy_work(t, 300) & 0));
    };
    auto keep = std::make_shared<int>(0);  // makes a task non-trivially destructible
    optimist::task_queue q;
    for (int sweep = 1; sweep <= sweeps; ++sweep) {
      switch (kind) {
        case add_kind::add_task_loop:  // consecutive adds of one kind: a segment of elements
          for (std::size_t t = 0; t < size; ++t) q.add([&task, t] { task(t); });
          break;
        case add_kind::add_tasks_range:
          q.add_tasks(std::size_t{0}, size, [&task](std::size_t t) { task(t); });
          break;
        case add_kind::single_tasks:  // one slot per task, never helped
          for (std::size_t t = 0; t < size; ++t) q.add([&task, t, keep] { task(t); });
          break;
      }
      {
        watchdog guard("running an ordered sweep of a dependent workload");
        q.run(run_with(GetParam(), /*ordered=*/true));
      }
      ASSERT_EQ(q.pending(), 0u);
      const std::vector<long> expected = sequential_sweeps(n, sweep);
      for (std::size_t t = 0; t < size; ++t) {
        ASSERT_EQ(start[t], expected[t]) << "element " << t << " after sweep " << sweep;
      }
    }
  }
};

TEST_P(OrderedSweepTest, AddTaskLoopGivesTheSequentialResult) {
  check_sweeps(add_kind::add_task_loop);
}
TEST_P(OrderedSweepTest, AddTasksRangeGivesTheSequentialResult) {
  check_sweeps(add_kind::add_tasks_range);
}
TEST_P(OrderedSweepTest, SingleTasksGiveTheSequentialResult) {
  check_sweeps(add_kind::single_tasks);
}

INSTANTIATE_TEST_SUITE_P(Threads, OrderedSweepTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

// x[i] = step(x[i - 1], i) at the stalled task and the one after it (so the
// value the stalled turn commits is read and checked), x[i] = step(0, i)
// elsewhere (tasks that do not conflict, so workers run groups of them).
u64 step(u64 previous, u64 i) {
  return previous * 6364136223846793005ull + i + 1;
}

struct stall_case {
  explicit stall_case(std::size_t count_, std::size_t stalled_)
      : count(count_), stalled(stalled_), x(count_, 0), committer(count_, 0) {}
  bool depends(std::size_t i) const { return i == stalled || i == stalled + 1; }
  // The task body: runs at most once per execution; the stalled task stalls
  // in the first execution (by whichever thread) and records that thread.
  // With wait_for_help it stalls until another worker has committed its turn
  // (its commit wrote committer[stalled], through std::atomic_ref as the
  // engine writes back), or 60 s at most (then the stalled thread commits it
  // and the test says so); otherwise it sleeps 200 ms.
  void run(std::size_t i, bool throws) {
    if (i == stalled && !slept.exchange(true)) {
      sleeper.store(this_thread_token());
      if (wait_for_help) {
        const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::atomic_ref<u64>(committer[stalled]).load() == 0 &&
               std::chrono::steady_clock::now() < limit) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    const u64 previous = depends(i) && i > 0 ? optimist::load(x[i - 1]) : 0;
    if (i == stalled && throws) throw task_failure("the stalled task fails");
    optimist::store(x[i], step(previous, i) + (busy_work(i, 100) & 0));
    optimist::store(committer[i], this_thread_token());
  }
  u64 expected(std::size_t i) const { return step(depends(i) && i > 0 ? expected(i - 1) : 0, i); }
  const std::size_t count;
  const std::size_t stalled;
  std::vector<u64> x;
  std::vector<u64> committer;
  std::atomic<bool> slept{false};
  std::atomic<u64> sleeper{0};
  bool wait_for_help = false;
};

class OrderedHelpTest : public ::testing::TestWithParam<int> {};

// The stalled task's turn is committed by another worker, which ran it (and
// the turns after it) while the stalled worker slept: the result is still the
// sequential loop's.
TEST_P(OrderedHelpTest, StalledTurnIsCommittedByAWaitingWorker) {
  stall_case c(static_cast<std::size_t>(scaled(4000)), 1500);
  c.wait_for_help = GetParam() >= 2;  // one worker: nobody else can
  optimist::task_queue q;
  for (std::size_t i = 0; i < c.count; ++i) q.add([&c, i] { c.run(i, false); });
  // Speculatively: helping is for turns waited for inside a speculative
  // block. A serial group claims its turn before it runs (INVARIANT
  // serial-turn-first), so a stalled one is waited for, as a lock would be;
  // auto mode's verdict for these tiny tasks is serial at two workers.
  optimist::run_options options = run_with(GetParam(), /*ordered=*/true);
  options.mode = optimist::execution_mode::stm;
  optimist::reset_stats();
  {
    watchdog guard("running an ordered loop with a stalled task");
    q.run(options);
  }
  ASSERT_EQ(q.pending(), 0u);
  for (std::size_t i = 0; i < c.count; ++i) ASSERT_EQ(c.x[i], c.expected(i)) << "element " << i;
  ASSERT_TRUE(c.slept.load());
  // Every task committed once, counted once: a block's commit, or one of the
  // grouped tasks beside it (tasks.hpp). The turns a helper committed were
  // not counted (their owners find them passed and count nothing).
  const optimist::statistics st = optimist::stats();
  EXPECT_EQ(st.commits + st.grouped_tasks, c.count);
  if (GetParam() >= 2) {
    EXPECT_NE(c.committer[c.stalled], c.sleeper.load())
        << "the stalled task's turn waited for the worker that slept in it";
  }
}

// A stalled task that throws stops the run at it, helped or not: everything
// before it commits, nothing after it, the task itself is consumed (its
// exception is the run's); the rest stays pending and the next run commits it,
// in order — as the sequential loop resumed after the failed element.
TEST_P(OrderedHelpTest, StalledTaskThatThrowsStopsTheRunAtIt) {
  stall_case c(static_cast<std::size_t>(scaled(4000)), 1500);
  std::atomic<bool> throwing{true};
  optimist::task_queue q;
  for (std::size_t i = 0; i < c.count; ++i) {
    q.add([&c, &throwing, i] { c.run(i, throwing.load()); });
  }
  {
    watchdog guard("running an ordered loop with a stalled task that throws");
    EXPECT_THROW(q.run(run_with(GetParam(), /*ordered=*/true)), task_failure);
  }
  EXPECT_EQ(q.pending(), c.count - c.stalled - 1);
  for (std::size_t i = 0; i < c.count; ++i) {
    ASSERT_EQ(c.x[i], i < c.stalled ? c.expected(i) : 0) << "element " << i;
  }
  throwing.store(false);
  {
    watchdog guard("running the rest of an ordered loop after a stalled task threw");
    q.run(run_with(GetParam(), /*ordered=*/true));
  }
  EXPECT_EQ(q.pending(), 0u);
  for (std::size_t i = 0; i < c.count; ++i) {
    // The failed task never committed: the one after it read its old value.
    const u64 expected = i == c.stalled ? 0 : i == c.stalled + 1 ? step(0, i) : c.expected(i);
    ASSERT_EQ(c.x[i], expected) << "element " << i;
  }
}

// Single tasks (here: not trivially destructible, so each has its own slot)
// are never run by a helper — their owner alone may end them — so the worker
// that stalled in one commits it; the result is the same.
TEST_P(OrderedHelpTest, StalledSingleTaskIsCommittedByItsOwnWorker) {
  stall_case c(static_cast<std::size_t>(scaled(4000)), 1500);
  auto keep = std::make_shared<int>(0);
  optimist::task_queue q;
  for (std::size_t i = 0; i < c.count; ++i) q.add([&c, i, keep] { c.run(i, false); });
  {
    watchdog guard("running an ordered loop with a stalled single task");
    q.run(run_with(GetParam(), /*ordered=*/true));
  }
  ASSERT_EQ(q.pending(), 0u);
  for (std::size_t i = 0; i < c.count; ++i) ASSERT_EQ(c.x[i], c.expected(i)) << "element " << i;
  EXPECT_EQ(c.committer[c.stalled], c.sleeper.load());
}

INSTANTIATE_TEST_SUITE_P(Threads, OrderedHelpTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace ordered_help_test
