// A group of tasks committed as one transaction (INVARIANT group-is-its-tasks)
// whose commit then fails to publish a task one of them added (out of memory,
// through the test seam g_publications_before_failure): the exception is the
// run's error, and the group's tasks took effect once
// (INVARIANT committed-group-runs-once, runtime/tasks/task_queue.cpp). The
// runtime took the exception for a rollback and ran the committed group's
// tasks again one by one: each of their effects twice. Unordered and ordered
// runs, at 1, 2 and 4 workers; a second run finishes what the first left, and
// no run waits for a child that was never published.
#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"
#include "tasks/task_queue_state.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace publish_failure_test {

namespace {

using optimist::test::run_with;
using optimist::test::watchdog;

class PublishFailure : public ::testing::TestWithParam<int> {
 protected:
  void TearDown() override { optimist::detail::g_publications_before_failure.store(-1); }

  // `elements` range elements, each counting its runs and adding a child task
  // that counts its own; the 1001st publication fails.
  void run_case(bool ordered) {
    watchdog guard("a run whose added tasks fail to publish");
    constexpr int elements = 4000;
    std::vector<long> runs(elements, 0), child_runs(elements, 0);
    optimist::task_queue q;
    q.add_tasks(0, elements, [&](int i) {
      optimist::store(runs[i], optimist::load(runs[i]) + 1);
      q.add(
          [&child_runs, i] { optimist::store(child_runs[i], optimist::load(child_runs[i]) + 1); });
    });
    optimist::detail::g_publications_before_failure.store(1000);
    bool failed = false;
    try {
      q.run(run_with(GetParam(), ordered));
    } catch (const std::bad_alloc&) {
      failed = true;
    }
    ASSERT_TRUE(failed) << "no publication failed: the seam did not fire";
    optimist::detail::g_publications_before_failure.store(-1);
    if (ordered) {
      // INVARIANT stopped-turn-is-last: the elements committed by the failed
      // run are a prefix of the loop (the sequential loop stops at the error).
      int first_missing = 0;
      while (first_missing < elements && runs[first_missing] == 1) ++first_missing;
      for (int i = first_missing; i < elements; ++i) {
        ASSERT_EQ(runs[i], 0) << "element " << i << " committed after element " << first_missing
                              << ", which did not: not a prefix of the ordered loop";
      }
    }
    q.run(run_with(GetParam(), ordered));  // what the stopped run left
    EXPECT_EQ(q.pending(), 0u);
    long twice = 0, never = 0, lost_children = 0;
    for (int i = 0; i < elements; ++i) {
      if (runs[i] > 1) ++twice;
      if (runs[i] == 0) ++never;
      if (child_runs[i] > 1) ++twice;
      if (child_runs[i] == 0) ++lost_children;
    }
    EXPECT_EQ(twice, 0) << "a committed task took effect twice";
    EXPECT_EQ(never, 0) << "an element never ran";
    // The child whose publication failed is the run's error (std::bad_alloc)
    // and never runs; every other one runs once.
    EXPECT_EQ(lost_children, 1);
  }
};

TEST_P(PublishFailure, UnorderedCommittedGroupsRunOnce) {
  run_case(false);
}

TEST_P(PublishFailure, OrderedCommittedGroupsRunOnce) {
  run_case(true);
}

INSTANTIATE_TEST_SUITE_P(Threads, PublishFailure, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace publish_failure_test
