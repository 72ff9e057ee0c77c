// Tasks that call optimist::retry(): a retrying task does not hold its worker
// but is set aside until a commit changes what it read; a run whose remaining
// tasks all wait ends with optimist::tasks_blocked naming them, and keeps
// them queued for the next run.
//
// Checked at 1, 2 and 4 workers: consumer tasks queued before their producers
// all complete in one run (at one worker they must have been set aside);
// producers and consumers through a bounded buffer move every item once; a
// task that retries for ever (added by the caller, or by another task) makes
// the run throw tasks_blocked with its count and source line, stays pending
// and runs in the next run once its condition holds; in an ordered run, a
// retry before the task's turn is just re-run, and one at its turn blocks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/optimist.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace retry_task_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;
using optimist::test::watchdog;

class RetryTaskTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { optimist::reset_stats(); }
};

// Takes one item; retries while there is none.
long take_one(optimist::tvar<long>& items) {
  long n = items.get();
  if (n == 0) optimist::retry();
  items.set(n - 1);
  return n;
}

TEST_P(RetryTaskTest, ConsumersQueuedBeforeTheirProducersAllComplete) {
  watchdog guard("consumer tasks waiting for producer tasks");
  const long pairs = scaled(200);
  optimist::tvar<long> items{0}, consumed{0};
  optimist::task_queue q;
  for (long i = 0; i < pairs; ++i) {
    q.add([&] {
      take_one(items);
      consumed.set(consumed.get() + 1);
    });
  }
  for (long i = 0; i < pairs; ++i) q.add([&] { items.set(items.get() + 1); });
  q.run(run_with(GetParam()));
  EXPECT_EQ(consumed.get(), pairs);
  EXPECT_EQ(items.get(), 0);
  EXPECT_EQ(q.pending(), 0u);
  if (GetParam() == 1) {
    // One worker runs the consumers first: each one retried and was set aside.
    EXPECT_GE(optimist::stats().retries, static_cast<std::uint64_t>(pairs));
  }
}

TEST_P(RetryTaskTest, ProducersAndConsumersThroughABoundedBufferMoveEveryItemOnce) {
  watchdog guard("producer and consumer tasks on a buffer of 2");
  const long count = scaled(300);
  constexpr long capacity = 2;
  optimist::tvar<long> head{0}, size{0};
  optimist::tvar<long> slots[capacity];
  std::vector<optimist::tvar<long>> received(static_cast<std::size_t>(count));
  optimist::task_queue q;
  // Interleaved so that both kinds block: producers when full, consumers when empty.
  for (long i = 0; i < count; ++i) {
    q.add([&] {
      long n = size.get();
      if (n == 0) optimist::retry();
      long h = head.get();
      long item = slots[h].get();
      head.set((h + 1) % capacity);
      size.set(n - 1);
      auto& r = received[static_cast<std::size_t>(item)];
      r.set(r.get() + 1);
    });
    if (i % 3 == 2) {
      for (long k = i - 2; k <= i; ++k) {
        q.add([&, k] {
          long n = size.get();
          if (n == capacity) optimist::retry();
          slots[(head.get() + n) % capacity].set(k);
          size.set(n + 1);
        });
      }
    }
  }
  for (long k = count - count % 3; k < count; ++k) {
    q.add([&, k] {
      long n = size.get();
      if (n == capacity) optimist::retry();
      slots[(head.get() + n) % capacity].set(k);
      size.set(n + 1);
    });
  }
  q.run(run_with(GetParam()));
  for (long i = 0; i < count; ++i) {
    ASSERT_EQ(received[static_cast<std::size_t>(i)].get(), 1) << "item " << i;
  }
  EXPECT_EQ(size.get(), 0);
  EXPECT_EQ(q.pending(), 0u);
}

TEST_P(RetryTaskTest, ATaskThatRetriesForEverBlocksTheRunAndRunsInTheNext) {
  watchdog guard("a task that can never proceed");
  optimist::tvar<long> flag{0}, ran{0}, others{0};
  optimist::task_queue q;
  const int retry_line = __LINE__ + 3;
  q.add([&] {
    long f = flag.get();
    if (f == 0) optimist::retry();
    ran.set(ran.get() + f);
  });
  for (int i = 0; i < 10; ++i) q.add([&] { others.set(others.get() + 1); });
  try {
    q.run(run_with(GetParam()));
    FAIL() << "the run returned with a task blocked in retry()";
  } catch (const optimist::tasks_blocked& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.blocked_tasks(), 1u);
    EXPECT_NE(what.find("1 task(s)"), std::string::npos) << what;
    EXPECT_NE(what.find("retry_task_test.cpp:" + std::to_string(retry_line)), std::string::npos)
        << what;
  }
  EXPECT_EQ(others.get(), 10) << "the other tasks ran";
  EXPECT_EQ(ran.get(), 0);
  EXPECT_EQ(q.pending(), 1u) << "the blocked task stays queued";

  flag.set(5);
  q.run(run_with(GetParam()));
  EXPECT_EQ(ran.get(), 5);
  EXPECT_EQ(q.pending(), 0u);
}

TEST_P(RetryTaskTest, BlockedTasksAddedByTasksAreKeptAndNamedBySite) {
  watchdog guard("blocked child tasks at two sites");
  optimist::tvar<long> flag{0}, ran{0};
  optimist::task_queue q;
  for (int i = 0; i < 3; ++i) {
    q.add([&] {
      q.add([&] {  // a child, published when its parent commits
        if (flag.get() == 0) optimist::retry();
        ran.set(ran.get() + 1);
      });
    });
  }
  q.add([&] {
    if (flag.get() == 0) optimist::retry();
    ran.set(ran.get() + 10);
  });
  try {
    q.run(run_with(GetParam()));
    FAIL() << "the run returned with tasks blocked in retry()";
  } catch (const optimist::tasks_blocked& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.blocked_tasks(), 4u);
    EXPECT_NE(what.find("(3 tasks)"), std::string::npos) << what;
    EXPECT_NE(what.find("(1 task)"), std::string::npos) << what;
  }
  EXPECT_EQ(q.pending(), 4u);
  flag.set(1);
  q.run(run_with(GetParam()));
  EXPECT_EQ(ran.get(), 13);
  EXPECT_EQ(q.pending(), 0u);
}

TEST_P(RetryTaskTest, OrderedRetryBeforeItsTurnIsRunAgain) {
  watchdog guard("an ordered consumer after its producer");
  const long pairs = scaled(50);
  optimist::tvar<long> items{0}, consumed{0};
  optimist::task_queue q;
  for (long i = 0; i < pairs; ++i) {
    q.add([&] { items.set(items.get() + 1); });
    // Speculatively it may find no item yet; at its turn the producer before
    // it has committed.
    q.add([&] {
      take_one(items);
      consumed.set(consumed.get() + 1);
    });
  }
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(consumed.get(), pairs);
  EXPECT_EQ(items.get(), 0);
}

TEST_P(RetryTaskTest, OrderedRetryAtItsTurnBlocksTheRun) {
  watchdog guard("an ordered consumer before its producer");
  optimist::tvar<long> items{0}, consumed{0}, produced{0};
  optimist::task_queue q;
  q.add([&] {  // turn 0: no earlier task can give it an item
    take_one(items);
    consumed.set(consumed.get() + 1);
  });
  q.add([&] {
    items.set(items.get() + 1);
    produced.set(produced.get() + 1);
  });
  try {
    q.run(run_with(GetParam(), /*ordered=*/true));
    FAIL() << "an ordered run whose first task retries returned";
  } catch (const optimist::tasks_blocked& e) {
    EXPECT_EQ(e.blocked_tasks(), 1u);
    EXPECT_NE(std::string(e.what()).find("ordered"), std::string::npos) << e.what();
  }
  EXPECT_EQ(consumed.get(), 0);
  // The producer comes after the consumer: it does not commit in this run,
  // even if it was running already (tests/tasks/ordered_stop_test.cpp).
  EXPECT_EQ(produced.get(), 0);
  EXPECT_EQ(q.pending(), 2u);
  items.set(1);
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(consumed.get(), 1);
  EXPECT_EQ(produced.get(), 1);
  EXPECT_EQ(q.pending(), 0u);
}

// Its destructor runs a block that waits (retry) until *flag is set; *retried counts its calls
// of retry().
struct waits_when_destroyed {
  waits_when_destroyed(optimist::tvar<long>* f, std::atomic<int>* d, std::atomic<int>* r)
      : flag(f), done(d), retried(r) {}
  optimist::tvar<long>* flag;
  std::atomic<int>* done;
  std::atomic<int>* retried;
  ~waits_when_destroyed() {
    optimist::atomically([&] {
      if (flag->get() == 0) {
        retried->fetch_add(1);
        optimist::retry();
      }
    });
    done->fetch_add(1);
  }
};

// Sets *flag once the destructor's block has retried in software (stats().retries grew past
// `before`; a serial attempt's retry re-runs the block speculatively first and is not counted):
// it waits there, or is about to and finds the flag set.
// Bounded (30 s): a destructor that never runs its block (the object was retired, and no
// reclamation reaches it) then fails the test's "retried" check instead of hanging it.
void set_once_the_destructor_waits(optimist::tvar<long>& flag, const std::atomic<int>& retried,
                                   std::uint64_t before) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((retried.load() == 0 || optimist::stats().retries == before) &&
         std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  optimist::atomically([&] { flag.set(1); });
}

// A task's block deletes an object whose destructor runs a block of its own
// that retries until another thread sets a flag. In serial mode the object is
// destroyed as the task's block commits (INVARIANT serial-deletes-now), inside
// the task; that block is outermost and must wait where it is, as any block
// outside a task does, not leave as the task's own retry would (set the task
// aside to be re-run: its committed block ran twice) or escape the destructor
// (std::terminate).
TEST_P(RetryTaskTest, ABlockThatRetriesInADestructorRunAtTheTasksCommitWaitsThere) {
  watchdog guard("a retry in the destructor of an object a task deleted");
  optimist::tvar<long> flag{0}, runs{0};
  std::atomic<int> done{0}, retried{0};
  optimist::tvar<waits_when_destroyed*> slot{new waits_when_destroyed{&flag, &done, &retried}};
  const std::uint64_t retries_before = optimist::stats().retries;
  std::thread setter([&] { set_once_the_destructor_waits(flag, retried, retries_before); });
  optimist::task_queue q;
  q.add([&] {
    runs.set(runs.get() + 1);
    optimist::tx_delete(slot.get());
    slot.set(nullptr);
  });
  optimist::run_options options = run_with(GetParam());
  options.mode = optimist::execution_mode::serial;
  q.run(options);
  // Had the deletion been retired (a give-way, or retired objects already on the worker's
  // list), the destructor's block runs here and waits for the setter.
  optimist::detail::reclaim_now();
  setter.join();
  EXPECT_EQ(runs.get(), 1) << "the task's committed block ran again";
  EXPECT_EQ(done.load(), 1);
  EXPECT_GE(retried.load(), 1) << "the destructor's block never retried: nothing was tested";
  EXPECT_EQ(q.pending(), 0u);
}

// The same for the destructor of an object that a task's attempt allocated
// and lost: the attempt retries, and its allocation is destroyed before the
// task is set aside (discard_attempt). Before, the destructor's retry left
// it: std::terminate.
TEST_P(RetryTaskTest, ABlockThatRetriesInTheDestructorOfALostAllocationWaitsThere) {
  watchdog guard("a retry in the destructor of an object a task's attempt lost");
  optimist::tvar<long> flag{0};
  optimist::tvar<waits_when_destroyed*> kept{nullptr};
  std::atomic<int> done{0}, retried{0};
  // The task's own retry counts too: the setter waits for the destructor's (retried), which
  // only an attempt that retried and lost its object can run.
  const std::uint64_t retries_before = optimist::stats().retries;
  std::thread setter([&] { set_once_the_destructor_waits(flag, retried, retries_before); });
  optimist::task_queue q;
  q.add([&] {
    auto* object = optimist::tx_new<waits_when_destroyed>(&flag, &done, &retried);
    if (flag.get() == 0) optimist::retry();
    kept.set(object);
  });
  q.run(run_with(GetParam()));
  setter.join();
  EXPECT_EQ(q.pending(), 0u);
  ASSERT_NE(kept.get(), nullptr);
  // Every attempt that retried lost its object, whose destructor waited for
  // the flag; the committed one kept it.
  const int lost = done.load();
  EXPECT_GE(lost, 1);
  EXPECT_GE(retried.load(), 1) << "no lost object's destructor retried: nothing was tested";
  delete kept.get();
  EXPECT_EQ(done.load(), lost + 1);
}

INSTANTIATE_TEST_SUITE_P(Threads, RetryTaskTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace retry_task_test
