// The add path of task_queue::add (runtime/tasks/add_bias.hpp, the segments
// of task_queue.cpp): a thread that adds many tasks gets the add lock's bias
// and adds without an atomic exchange; consecutive trivially destructible
// tasks of one kind are kept as a segment and run like an add_tasks range.
// What must hold whatever the path:
//   - every task added runs exactly once, also when other threads add (and
//     revoke the bias) and run while the biased thread is adding;
//   - an ordered run commits tasks in the order they were added: segments,
//     single tasks of other kinds (not trivially destructible), ranges and
//     tasks of another thread that added after it was told to;
//   - a task of a segment that throws names itself; the tasks after it in
//     the segment stay queued (pending()) and run in the next ordered run;
//   - memory: a run of many tiny tasks gives its memory back (mallinfo2).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/heap_bytes.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/commit_log.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace add_path_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;
using optimist::test::watchdog;

class AddPathTest : public ::testing::TestWithParam<int> {};

using optimist::test::commit_log;

// Two threads add at once (each revokes the other's bias now and then) while
// a third runs the queue over and over: nothing is lost or run twice.
TEST_P(AddPathTest, ConcurrentAddersAndRunsLoseNothing) {
  watchdog guard("concurrent adders and runs");
  const long per_thread = scaled(20000);
  std::vector<long> hits(static_cast<std::size_t>(2 * per_thread), 0);
  optimist::task_queue q;
  std::atomic<int> adders_done{0};
  auto adder = [&](long first) {
    for (long i = first; i < first + per_thread; ++i) {
      q.add([&hits, i] {
        optimist::store(hits[static_cast<std::size_t>(i)],
                        optimist::load(hits[static_cast<std::size_t>(i)]) + 1);
      });
    }
    adders_done.fetch_add(1);
  };
  std::thread a(adder, 0);
  std::thread b(adder, per_thread);
  while (adders_done.load() < 2) q.run(run_with(GetParam()));
  a.join();
  b.join();
  q.run(run_with(GetParam()));
  EXPECT_EQ(q.pending(), 0u);
  for (std::size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i], 1) << "task " << i;
}

// One thread adds a long loop (it gets the bias), then tells another thread,
// which adds its own tasks; the first thread adds more after the second is
// done. An ordered run commits them in exactly that order, with tasks of a
// kind that is not trivially destructible (slots) and a range in between.
TEST_P(AddPathTest, OrderedRunKeepsTheOrderOfAddsAcrossThreadsAndKinds) {
  watchdog guard("ordered adds across threads and kinds");
  const long n = scaled(3000);
  commit_log log(static_cast<std::size_t>(5 * n));
  optimist::task_queue q;
  long next = 0;
  auto add_loop = [&](long count) {
    for (long k = 0; k < count; ++k) {
      const long id = next++;
      q.add([&log, id] { log.append(id); });
    }
  };
  add_loop(n);                              // enough for the bias
  std::thread other([&] { add_loop(n); });  // revokes it; `next` is handed over by join
  other.join();
  for (long k = 0; k < n; ++k) {  // not trivially destructible: a slot of its own each
    const long id = next++;
    auto keep = std::make_shared<long>(id);
    q.add([&log, keep] { log.append(*keep); });
  }
  const long range_first = next;
  q.add_tasks(0L, n, [&log, range_first](long i) { log.append(range_first + i); });
  next += n;
  add_loop(n);
  ASSERT_EQ(q.pending(), static_cast<std::size_t>(next));
  q.run(run_with(GetParam(), /*ordered=*/true));
  std::vector<long> want(static_cast<std::size_t>(next));
  for (long i = 0; i < next; ++i) want[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(log.entries(), want);
}

struct task_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A task in the middle of a segment throws in an ordered run: the exception
// is that task's, nothing after it commits, and the tasks after it (not the
// one that threw, as for any task) run in the next run.
TEST_P(AddPathTest, ThrowingTaskOfASegmentStopsAnOrderedRunAtItself) {
  watchdog guard("a throwing task in a segment");
  const long n = scaled(4000);
  const long bad = n / 2 + 7;
  commit_log log(static_cast<std::size_t>(n));
  optimist::task_queue q;
  bool fail = true;
  for (long id = 0; id < n; ++id) {
    q.add([&log, &fail, id, bad] {
      if (id == bad && optimist::load(fail)) throw task_failure("task " + std::to_string(id));
      log.append(id);
    });
  }
  try {
    q.run(run_with(GetParam(), /*ordered=*/true));
    FAIL() << "the run did not rethrow";
  } catch (const task_failure& e) {
    EXPECT_EQ(std::string(e.what()), "task " + std::to_string(bad));
  }
  EXPECT_EQ(q.pending(), static_cast<std::size_t>(n - bad - 1));  // the thrower is not requeued
  std::vector<long> want;
  for (long i = 0; i < bad; ++i) want.push_back(i);
  EXPECT_EQ(log.entries(), want);
  fail = false;
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(q.pending(), 0u);
  for (long i = bad + 1; i < n; ++i) want.push_back(i);
  EXPECT_EQ(log.entries(), want);
}

#if OPTIMIST_TEST_HEAP_BYTES
// What a run keeps of its tasks' memory.
std::size_t bytes_in_use() {
  return optimist::test::heap_bytes_in_use();
}

// A run of many tiny tasks gives their memory back: after it, the bytes in
// use are within a bound of what they were before the adds, however many
// tasks ran (the queue keeps at most 32 MiB of spare storage blocks and 8 MiB
// of slots). The adds themselves take far more than that bound.
TEST(AddPathMemoryTest, RunOfManyTinyTasksGivesItsMemoryBack) {
  watchdog guard("memory of a run");
  const long n = scaled(4'000'000);  // 24 bytes each: ~96 MB of tasks
  std::vector<long> counters(64, 0);
  optimist::task_queue q;
  // Warm up: the engine's thread descriptors, oneTBB's workers, the queue.
  for (int i = 0; i < 1000; ++i) q.add([&counters] { optimist::store(counters[0], 1L); });
  q.run(run_with(2));
  const std::size_t before = bytes_in_use();
  std::size_t peak = before;
  for (long i = 0; i < n; ++i) {
    q.add([&counters, i] {
      const std::size_t c = static_cast<std::size_t>(i) % counters.size();
      optimist::store(counters[c], optimist::load(counters[c]) + 1);
    });
    if (i % 65536 == 0) peak = std::max(peak, bytes_in_use());
  }
  peak = std::max(peak, bytes_in_use());
  q.run(run_with(2));
  const std::size_t after = bytes_in_use();
  const std::size_t kept_at_most = std::size_t{48} << 20;  // spares, slots, engine logs
  EXPECT_GT(peak - before, std::size_t{64} << 20) << "the adds did not take memory: no test";
  EXPECT_LE(after, before + kept_at_most)
      << "before " << before << " B, peak " << peak << " B, after " << after << " B";
  long total = 0;
  for (long c : counters) total += c;
  EXPECT_EQ(total, n + 1);  // and the warm-up's store of 1
}

// Runs that stop with a task left (here one blocked in retry() for ever, as a frame loop might
// have) keep only the memory of what they requeue: the storage blocks of the tasks they ran go
// back. Before, a stopped run handed all of its blocks back to the queue with the requeued task,
// and the next run took them all again: every frame's tasks stayed allocated (about 100 MB after
// 30 rounds of 100,000 tiny tasks).
TEST(AddPathMemoryTest, RunsThatStopKeepOnlyWhatTheyRequeue) {
  watchdog guard("memory of runs that stop");
  optimist::tvar<long> go{0};
  std::vector<long> counters(64, 0);
  optimist::task_queue q;
  q.add([&go] {
    if (go.get() == 0) optimist::retry();  // until the end of the test
  });
  const long per_round = scaled(100'000);
  long ran = 0;
  auto round = [&] {
    for (long i = 0; i < per_round; ++i) {
      q.add([&counters, i] {
        const std::size_t c = static_cast<std::size_t>(i) % counters.size();
        optimist::store(counters[c], optimist::load(counters[c]) + 1);
      });
    }
    try {
      q.run(run_with(2));
      ADD_FAILURE() << "the run returned with a task blocked in retry()";
    } catch (const optimist::tasks_blocked&) {
    }
    ran += per_round;
  };
  for (int r = 0; r < 5; ++r) round();  // the spare blocks fill up
  const std::size_t before = bytes_in_use();
  for (int r = 0; r < 30; ++r) round();
  const std::size_t after = bytes_in_use();
  EXPECT_LE(after, before + (std::size_t{8} << 20))
      << "before " << before << " B, after 30 more stopped runs " << after << " B";
  EXPECT_EQ(q.pending(), 1u);
  long total = 0;
  for (long c : counters) total += c;
  EXPECT_EQ(total, ran);
  go.set(1);
  q.run(run_with(2));
  EXPECT_EQ(q.pending(), 0u);
}

// The seed loop's task, a lambda capturing one reference, takes two words of
// storage: its kind and the reference. Empty members take no room: before,
// the empty tuple of arguments padded every such task to 24 bytes, a third
// more memory written by the adds and read back by the run.
TEST(AddPathMemoryTest, ASeedLoopTaskTakesTwoWords) {
  watchdog guard("memory of seed-loop tasks");
  const long n = 1'000'000;
  std::vector<double> balances(static_cast<std::size_t>(n), 1.0);
  optimist::task_queue q;
  const std::size_t before = bytes_in_use();
  for (double& b : balances) q.add([&b] { optimist::store(b, optimist::load(b) * 2.0); });
  const std::size_t taken = bytes_in_use() - before;
  // 16 MB of tasks, plus one 64-byte header per 64 KiB block and the run's
  // bookkeeping: well under the 24 MB that 24-byte tasks took.
  EXPECT_GE(taken, std::size_t{16'000'000}) << "the adds took less than the tasks need: no test";
  EXPECT_LE(taken, std::size_t{17'500'000}) << taken << " B for " << n << " tasks";
  q.run(run_with(2));
  for (double b : balances) ASSERT_EQ(b, 2.0);
}
#endif

INSTANTIATE_TEST_SUITE_P(Threads, AddPathTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace add_path_test
