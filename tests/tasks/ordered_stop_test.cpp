// An ordered run that stops — its task at turn k throws, or still retries at
// its turn (tasks_blocked) — keeps the ordered contract across runs: nothing
// after task k commits in that run, even a task that was already running when
// k stopped; the later tasks roll back, stay queued (pending()) and the next
// run commits them, in order, after k.
//
// Each case makes sure, at two threads and more, that task k+1 is running
// (it has started its body) before task k decides to stop: that is when a
// later task used to commit ahead of k (issue 11, item 4; reproducers
// ordered_block.cpp and r1_ordered_blocked.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/commit_log.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace ordered_stop_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;
using optimist::test::watchdog;

struct task_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using optimist::test::commit_log;

// Long enough for the other workers to claim and start the tasks after this one.
void busy_wait_a_little() {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
  while (std::chrono::steady_clock::now() < until) {
  }
}

std::vector<long> iota(long first, long last) {
  std::vector<long> v;
  for (long i = first; i < last; ++i) v.push_back(i);
  return v;
}

class OrderedStopTest : public ::testing::TestWithParam<int> {
 protected:
  // Waits (outside any transaction's effects: a plain atomic) until the next
  // task has started its body, when another worker can run it.
  void wait_for_next_task_to_start() const {
    if (GetParam() < 2) return;
    // Bounded: the next task may not be able to start (the runtime may run
    // consecutive tasks on one worker, as one group).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (!next_started.load() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
  }
  std::atomic<bool> next_started{false};
};

// ordered_block.cpp: task 0 retries at its turn while task 1 runs.
TEST_P(OrderedStopTest, ATaskBlockedAtItsTurnKeepsEveryLaterTaskQueued) {
  watchdog guard("an ordered run whose first task blocks");
  optimist::tvar<long> gate{0};
  commit_log log(4);
  optimist::task_queue q;
  q.add([&] {
    if (gate.get() == 0) {
      wait_for_next_task_to_start();
      optimist::retry();
    }
    log.append(0);
  });
  q.add([&] {
    next_started.store(true);
    log.append(1);
  });
  EXPECT_THROW(q.run(run_with(GetParam(), /*ordered=*/true)), optimist::tasks_blocked);
  EXPECT_EQ(log.entries(), std::vector<long>{}) << "task 1 committed before the blocked task 0";
  EXPECT_EQ(q.pending(), 2u);
  gate.set(1);
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(log.entries(), (std::vector<long>{0, 1}));
  EXPECT_EQ(q.pending(), 0u);
}

// ordered_block.cpp throw: task 0 throws at its turn while task 1 runs; the
// sequential loop stops at the exception, so task 1 runs only in the next run.
TEST_P(OrderedStopTest, ATaskThatThrowsAtItsTurnKeepsEveryLaterTaskQueued) {
  watchdog guard("an ordered run whose first task throws");
  commit_log log(4);
  optimist::task_queue q;
  q.add([&] {
    wait_for_next_task_to_start();
    throw task_failure("task 0 failed");
  });
  q.add([&] {
    next_started.store(true);
    log.append(1);
  });
  EXPECT_THROW(q.run(run_with(GetParam(), /*ordered=*/true)), task_failure);
  EXPECT_EQ(log.entries(), std::vector<long>{}) << "task 1 committed after task 0 threw";
  EXPECT_EQ(q.pending(), 1u);
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(log.entries(), std::vector<long>{1});
}

// A later task that becomes inevitable (I/O) while the run stops is rolled
// back before its I/O, not left waiting for a turn that never comes.
TEST_P(OrderedStopTest, ALaterInevitableTaskDoesNoIoInTheStoppedRun) {
  watchdog guard("an ordered run that stops while a later task wants to become inevitable");
  optimist::tvar<long> gate{0};
  std::atomic<int> io_done{0};
  optimist::task_queue q;
  q.add([&] {
    if (gate.get() == 0) {
      wait_for_next_task_to_start();
      optimist::retry();
    }
  });
  q.add([&] {
    next_started.store(true);
    optimist::become_inevitable();
    io_done.fetch_add(1);  // once the task is inevitable it cannot roll back
  });
  EXPECT_THROW(q.run(run_with(GetParam(), /*ordered=*/true)), optimist::tasks_blocked);
  EXPECT_EQ(io_done.load(), 0);
  EXPECT_EQ(q.pending(), 2u);
  gate.set(1);
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(io_done.load(), 1);
  EXPECT_EQ(q.pending(), 0u);
}

// r1_ordered_blocked.cpp: a long loop; task `blocker` works a little and waits
// for the task after it to start, then retries at its turn.
TEST_P(OrderedStopTest, ALongLoopStopsExactlyAtTheBlockedTaskAndGoesOnInOrder) {
  watchdog guard("an ordered loop with a blocked task in the middle");
  const long count = scaled(2000);
  const long blocker = 100;
  commit_log log(static_cast<std::size_t>(count));
  optimist::tvar<int> go{0};
  optimist::task_queue q;
  for (long i = 0; i < count; ++i) {
    q.add([&, i] {
      if (i == blocker + 1) next_started.store(true);
      if (i == blocker) {
        busy_wait_a_little();
        if (go.get() == 0) {
          wait_for_next_task_to_start();
          optimist::retry();
        }
      }
      log.append(i);
    });
  }
  try {
    q.run(run_with(GetParam(), /*ordered=*/true));
    FAIL() << "the run did not stop at the blocked task";
  } catch (const optimist::tasks_blocked& e) {
    EXPECT_EQ(e.blocked_tasks(), 1u);
  }
  EXPECT_EQ(log.entries(), iota(0, blocker));
  EXPECT_EQ(q.pending(), static_cast<std::size_t>(count - blocker));
  go.set(1);
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(log.entries(), iota(0, count));
  EXPECT_EQ(q.pending(), 0u);
}

// The same with an exception, over tasks added by tasks too: the first half
// of the loop is added by the caller, the second by task 0; the task that
// throws is dropped (its exception reached the caller), every other task
// commits exactly once, in the order added.
TEST_P(OrderedStopTest, ALoopThatThrowsMidwayCommitsTheRestInOrderNextRun) {
  watchdog guard("an ordered loop with a failing task, half of it added by a task");
  const long count = scaled(600);
  const long failing = count / 2 + 7;
  commit_log log(static_cast<std::size_t>(count));
  optimist::task_queue q;
  auto body = [&](long i) {
    if (i == failing) {
      busy_wait_a_little();
      throw task_failure("task " + std::to_string(i));
    }
    log.append(i);
  };
  q.add([&] {
    for (long i = count / 2; i < count; ++i) q.add(body, i);
  });
  for (long i = 1; i < count / 2; ++i) q.add(body, i);
  try {
    q.run(run_with(GetParam(), /*ordered=*/true));
    FAIL() << "the run did not rethrow the task's exception";
  } catch (const task_failure& e) {
    EXPECT_EQ(std::string(e.what()), "task " + std::to_string(failing));
  }
  EXPECT_EQ(log.entries(), iota(1, failing));
  EXPECT_EQ(q.pending(), static_cast<std::size_t>(count - failing - 1));
  q.run(run_with(GetParam(), /*ordered=*/true));
  std::vector<long> want = iota(1, count);
  want.erase(want.begin() + (failing - 1));
  EXPECT_EQ(log.entries(), want);
}

INSTANTIATE_TEST_SUITE_P(Threads, OrderedStopTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace ordered_stop_test
