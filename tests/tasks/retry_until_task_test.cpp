// Tasks that call optimist::retry_until(deadline): the task is set aside as
// for retry(), and runs again when a commit changes what it read or at its
// deadline at the latest. The run does not end while such a task waits, and
// its workers sleep while nothing else is left to do.
//
// Checked at 1, 2 and 4 workers: tasks that nothing wakes run again at their
// deadline and the run returns normally (no tasks_blocked), having slept; a
// task woken by another task's commit does not wait for its deadline; a task
// that read nothing waits for its deadline; a run stopped by a throwing task
// keeps a timed task queued for the next run instead of waiting for it; in
// an ordered run a timed retry at the task's turn waits there (for the
// deadline, or a commit from outside the run), the workers waiting for later
// turns sleep meanwhile, and the later tasks follow.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "stm/retry_wait.hpp"
#include "support/cpu_time.hpp"
#include "support/watchdog.hpp"
#include "tasks/parked_tasks.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace retry_until_task_test {

namespace {

using optimist::test::process_cpu_seconds;
using optimist::test::run_with;
using optimist::test::watchdog;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A task that takes one item, or, while there is none, waits for one up to
// `deadline` and then counts a time-out instead.
auto timed_consumer(optimist::tvar<long>& items, optimist::tvar<long>& consumed,
                    optimist::tvar<long>& timed_out, steady::time_point deadline) {
  return [&items, &consumed, &timed_out, deadline] {
    const long n = items.get();
    if (n == 0) {
      optimist::retry_until(deadline);
      timed_out.set(timed_out.get() + 1);
      return;
    }
    items.set(n - 1);
    consumed.set(consumed.get() + 1);
  };
}

class RetryUntilTaskTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { optimist::reset_stats(); }
};

TEST_P(RetryUntilTaskTest, TasksNothingWakesRunAgainAtTheirDeadlineWhileTheWorkersSleep) {
  watchdog guard("timed tasks that nothing wakes", 60s);
  constexpr int timed = 8;
  constexpr int plain = 100;
  optimist::tvar<long> flag{0}, timed_out{0}, done{0};
  optimist::task_queue q;
  // Each task's deadline is taken by its first attempt (kept across its re-runs), so that it
  // lies ahead when the task retries however late the run starts it.
  std::vector<std::atomic<steady::rep>> deadline_ticks(timed);
  for (int i = 0; i < timed; ++i) {
    q.add([&, i] {
      std::atomic<steady::rep>& ticks = deadline_ticks[static_cast<std::size_t>(i)];
      if (ticks.load() == 0) ticks.store((steady::now() + 300ms).time_since_epoch().count());
      if (flag.get() == 0) {
        optimist::retry_until(steady::time_point(steady::duration(ticks.load())));
        timed_out.set(timed_out.get() + 1);
      }
    });
  }
  for (int i = 0; i < plain; ++i) q.add([&] { done.set(done.get() + 1); });
  const auto t0 = steady::now();
  const double c0 = process_cpu_seconds();
  q.run(run_with(GetParam()));
  const double cpu = process_cpu_seconds() - c0;
  const double wall = std::chrono::duration<double>(steady::now() - t0).count();
  for (const std::atomic<steady::rep>& ticks : deadline_ticks) {
    EXPECT_GE(steady::now(), steady::time_point(steady::duration(ticks.load())))
        << "the run ended before its timed tasks' deadline";
  }
  EXPECT_EQ(timed_out.get(), timed);
  EXPECT_EQ(done.get(), plain);
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_GE(optimist::stats().retries, static_cast<std::uint64_t>(timed));
  // A resource check, not a speed claim: the workers slept while only timed
  // tasks were left (spinning, each would use about the whole wall time).
  EXPECT_LT(cpu, 0.25 * wall) << "the run used " << cpu << " s of CPU in " << wall << " s";
}

TEST_P(RetryUntilTaskTest, ATaskWokenByAnotherTasksCommitDoesNotWaitForItsDeadline) {
  watchdog guard("timed consumer tasks before their producers", 60s);
  constexpr long pairs = 50;
  optimist::tvar<long> items{0}, consumed{0}, timed_out{0};
  optimist::task_queue q;
  const auto deadline = steady::now() + 30s;  // the watchdog fires first
  for (long i = 0; i < pairs; ++i) {
    q.add(timed_consumer(items, consumed, timed_out, deadline));
  }
  for (long i = 0; i < pairs; ++i) q.add([&] { items.set(items.get() + 1); });
  q.run(run_with(GetParam()));
  EXPECT_LT(steady::now(), deadline);
  EXPECT_EQ(consumed.get(), pairs);
  EXPECT_EQ(timed_out.get(), 0);
  EXPECT_EQ(items.get(), 0);
  if (GetParam() == 1) {
    // One worker runs the consumers first: each one was set aside.
    EXPECT_GE(optimist::stats().retries, static_cast<std::uint64_t>(pairs));
  }
}

TEST_P(RetryUntilTaskTest, ATaskThatReadNothingWaitsForItsDeadline) {
  watchdog guard("a timed task that read nothing", 60s);
  std::atomic<int> attempts{0};
  optimist::task_queue q;
  // Taken by the task's first attempt (kept across its re-runs), so that it lies ahead when
  // the task retries however late the run starts it.
  std::atomic<steady::rep> deadline_ticks{0};
  q.add([&] {
    attempts.fetch_add(1);
    if (deadline_ticks.load() == 0) {
      deadline_ticks.store((steady::now() + 100ms).time_since_epoch().count());
    }
    optimist::retry_until(steady::time_point(steady::duration(deadline_ticks.load())));
  });
  q.run(run_with(GetParam()));
  EXPECT_GE(steady::now(), steady::time_point(steady::duration(deadline_ticks.load())));
  // Set aside once, run again once at the deadline; a serial attempt's retry
  // first runs the block again speculatively (serial_mode.cpp): one more.
  EXPECT_GE(attempts.load(), 2);
  EXPECT_LE(attempts.load(), 3);
  EXPECT_EQ(q.pending(), 0u);
}

TEST_P(RetryUntilTaskTest, ARunStoppedByAnErrorKeepsAWaitingTimedTaskForTheNextRun) {
  watchdog guard("a run that stops while a timed task waits 30 s", 60s);
  optimist::tvar<long> flag{0}, ran{0};
  std::atomic<bool> parked{false};
  optimist::task_queue q;
  const auto deadline = steady::now() + 30s;
  q.add([&] {
    if (flag.get() == 0) {
      parked.store(true);
      optimist::retry_until(deadline);
      return;  // timed out: not expected here
    }
    ran.set(ran.get() + 1);
  });
  q.add([&] {
    // Throws once the timed task has been set aside (at one worker it has).
    while (GetParam() > 1 && !parked.load()) std::this_thread::yield();
    throw std::runtime_error("planted");
  });
  try {
    q.run(run_with(GetParam()));
    FAIL() << "the run returned although a task threw";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "planted");
  }
  EXPECT_LT(steady::now(), deadline) << "the stopped run waited for the timed task";
  EXPECT_EQ(ran.get(), 0);
  EXPECT_EQ(q.pending(), 1u);
  flag.set(1);
  q.run(run_with(GetParam()));
  EXPECT_EQ(ran.get(), 1);
  EXPECT_EQ(q.pending(), 0u);
}

TEST_P(RetryUntilTaskTest, OrderedTimedRetryAtItsTurnWaitsForItsDeadlineThenTheRestFollow) {
  watchdog guard("an ordered timed consumer before its producer", 60s);
  optimist::tvar<long> items{0}, consumed{0}, timed_out{0}, produced{0}, seen{-1};
  optimist::task_queue q;
  const auto deadline = steady::now() + 300ms;
  // Turn 0: no earlier task can give it an item.
  q.add(timed_consumer(items, consumed, timed_out, deadline));
  q.add([&] {
    // Turn 1: commits after turn 0, so it sees turn 0's outcome.
    seen.set(timed_out.get());
    items.set(items.get() + 1);
    produced.set(produced.get() + 1);
  });
  optimist::tvar<long> later{0};
  for (int i = 0; i < 100; ++i) q.add([&] { later.set(later.get() + 1); });
  const auto t0 = steady::now();
  const double c0 = process_cpu_seconds();
  q.run(run_with(GetParam(), /*ordered=*/true));
  const double cpu = process_cpu_seconds() - c0;
  const double wall = std::chrono::duration<double>(steady::now() - t0).count();
  // A resource check, not a speed claim: the workers waiting for later turns
  // napped while turn 0 slept (spinning, each would use the whole wall time;
  // their naps cost a few percent, more under TSan: hence half, not a quarter).
  EXPECT_LT(cpu, 0.5 * wall) << "the run used " << cpu << " s of CPU in " << wall << " s";
  EXPECT_EQ(later.get(), 100);
  EXPECT_GE(steady::now(), deadline);
  EXPECT_EQ(timed_out.get(), 1);
  EXPECT_EQ(consumed.get(), 0);
  EXPECT_EQ(produced.get(), 1);
  EXPECT_EQ(seen.get(), 1) << "turn 1 did not see turn 0's outcome";
  EXPECT_EQ(q.pending(), 0u);
}

TEST_P(RetryUntilTaskTest, OrderedTimedRetryAtItsTurnIsWokenByACommitFromOutsideTheRun) {
  watchdog guard("an ordered timed consumer woken from outside the run", 60s);
  optimist::tvar<long> items{0}, consumed{0}, timed_out{0};
  optimist::task_queue q;
  const auto deadline = steady::now() + 30s;
  q.add(timed_consumer(items, consumed, timed_out, deadline));
  std::thread producer([&] {
    while (optimist::stats().retries == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    items.set(1);
  });
  q.run(run_with(GetParam(), /*ordered=*/true));
  producer.join();
  EXPECT_LT(steady::now(), deadline);
  EXPECT_EQ(consumed.get(), 1);
  EXPECT_EQ(timed_out.get(), 0);
}

// White box (the set-aside seam): a worker's wake_due runs after a timed task
// was published and before it is registered. It must neither drop the task's
// deadline (it was skipped as woken, its initial state, and nothing woke it
// again: the run never ended) nor lose a wake for a deadline already past.
std::atomic<int> g_hook_calls{0};
std::atomic<std::uint64_t> g_earliest_after_hook{0};
std::atomic<std::uint64_t> g_hook_now_ns{0};  // the time the racing wake_due was given

void wake_due_while_setting_aside(optimist::detail::parked_tasks& parked) {
  optimist::detail::g_set_aside_test_hook = nullptr;  // once
  g_hook_calls.fetch_add(1);
  std::this_thread::sleep_for(100ms);  // past a 50 ms deadline, before a 300 ms one
  const std::uint64_t now = optimist::detail::steady_now_ns();
  g_hook_now_ns.store(now);
  parked.wake_due(now);
  g_earliest_after_hook.store(parked.earliest_deadline());
}

TEST_P(RetryUntilTaskTest, AWakeDueBetweenPublishingAndRegisteringKeepsTheDeadline) {
  watchdog guard("a timed task whose deadline a racing wake_due could drop", 60s);
  for (const auto timeout : {300ms, 50ms}) {
    g_hook_calls.store(0);
    optimist::tvar<long> flag{0}, timed_out{0};
    optimist::task_queue q;
    // Taken by the task's first attempt (kept across its re-runs), so that it
    // lies ahead when the task retries however late the run starts it.
    std::atomic<steady::rep> deadline_ticks{0};
    q.add([&] {
      if (deadline_ticks.load() == 0) {
        deadline_ticks.store((steady::now() + timeout).time_since_epoch().count());
      }
      if (flag.get() == 0) {
        optimist::retry_until(steady::time_point(steady::duration(deadline_ticks.load())));
        timed_out.set(timed_out.get() + 1);
      }
    });
    optimist::detail::g_set_aside_test_hook = &wake_due_while_setting_aside;
    q.run(run_with(GetParam()));
    optimist::detail::g_set_aside_test_hook = nullptr;
    EXPECT_GE(steady::now(), steady::time_point(steady::duration(deadline_ticks.load())));
    EXPECT_EQ(timed_out.get(), 1) << "timeout " << timeout.count() << " ms";
    EXPECT_EQ(g_hook_calls.load(), 1)
        << "the task was not set aside (timeout " << timeout.count() << " ms): nothing was tested";
    // (The workers' idle loop would recover a dropped deadline within 1 ms, so
    // the run's end alone does not show the drop: the wake_due's result does.)
    // Only while the deadline still lay ahead of the racing wake_due: a worker
    // descheduled for 200 ms (TSan, a busy machine) made it due, and then
    // waking the task and forgetting the deadline is right.
    const auto deadline_ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       steady::duration(deadline_ticks.load()))
                                       .count());
    if (timeout == 300ms && g_hook_now_ns.load() < deadline_ns) {
      EXPECT_NE(g_earliest_after_hook.load(), 0u) << "the racing wake_due dropped the deadline";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, RetryUntilTaskTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace retry_until_task_test
