// Tasks that wait in oneTBB themselves (a tbb::parallel_for inside a task): while one waits,
// its thread must take only that wait's own jobs, never one of the run's worker loops
// (INVARIANT isolated-loops, runtime/tasks/task_queue.cpp). A worker loop taken there ran inside
// the waiting task's open transaction: its tasks were rolled back with that transaction, or,
// in an ordered run, the inner loop waited for a turn that only the task below it on the same
// stack could hand on, for ever.
#include <gtest/gtest.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <string>

#include "optimist/access.hpp"
#include "optimist/tasks.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace nested_tbb_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;

// Parameter: ordered or not. Eight workers on this machine's two cores: the run's worker jobs
// wait in oneTBB's queues while the first tasks already run, and a task's wait could take one.
class NestedTbbTest : public ::testing::TestWithParam<bool> {};

TEST_P(NestedTbbTest, TasksThatWaitInTbbRunEachOnce) {
#if defined(__SANITIZE_THREAD__)
  // tbb::parallel_for builds its jobs on one thread and runs them on another through the
  // uninstrumented libtbb: ThreadSanitizer sees no order between the two and reports oneTBB's
  // own jobs as races (they are not optimist's code; tests/tsan.supp keeps to system libraries).
  GTEST_SKIP() << "oneTBB's parallel_for hand-offs are invisible to ThreadSanitizer";
#endif
  const bool ordered = GetParam();
  const long count = scaled(2000);
  long counter = 0;
  long sum = 0;
  optimist::task_queue q;
  for (long i = 0; i < count; ++i) {
    q.add([&counter, &sum, i] {
      std::atomic<long> local{0};
      tbb::parallel_for(0, 64, [&local](int j) { local.fetch_add(j, std::memory_order_relaxed); });
      optimist::store(counter, optimist::load(counter) + 1);
      optimist::store(sum, optimist::load(sum) + local.load() + i);
    });
  }
  {
    optimist::test::watchdog guard(std::string("running ") + (ordered ? "ordered " : "") +
                                   "tasks that call tbb::parallel_for");
    q.run(run_with(8, ordered));
  }
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(counter, count);
  EXPECT_EQ(sum, count * (64 * 63 / 2) + count * (count - 1) / 2);
}

INSTANTIATE_TEST_SUITE_P(Modes, NestedTbbTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Ordered" : "Unordered");
                         });

}  // namespace

}  // namespace nested_tbb_test
