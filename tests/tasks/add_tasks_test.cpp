// add_tasks: one task per element of an index range or a random-access
// container, added at once and split among the workers as the run goes.
// Each element keeps the semantics of a task of its own:
//   - every element runs (commits) exactly once, mixed with single tasks;
//   - pending() counts elements, before, during (after a stop) and after runs;
//   - an element that throws is rolled back and its exception is the one the
//     run rethrows (naming that element); the rest stay queued or have run;
//   - an ordered run commits elements in index order, between the tasks added
//     before and after, also after a stop (exception, retry at its turn);
//   - tasks may add ranges (they run in the same run, ordered after
//     everything added before), elements may retry;
//   - the callable is destroyed exactly once, when the last element is done.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/commit_log.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace add_tasks_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;
using optimist::test::watchdog;

struct element_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Per-element commit counts, counted transactionally (an aborted attempt
// counts nothing).
struct hit_counts {
  explicit hit_counts(std::size_t n) : hits(n, 0) {}
  void hit(std::size_t i) { optimist::store(hits[i], optimist::load(hits[i]) + 1); }
  long count(std::size_t i) const { return hits[i]; }
  std::vector<long> hits;
};

using optimist::test::commit_log;

std::vector<long> iota(long first, long last) {
  std::vector<long> v;
  for (long i = first; i < last; ++i) v.push_back(i);
  return v;
}

class AddTasksTest : public ::testing::TestWithParam<int> {};

TEST_P(AddTasksTest, EveryElementRunsExactlyOnceAmongSingleTasks) {
  watchdog guard("index ranges and containers among single tasks");
  const long n = scaled(5000);
  hit_counts hits(static_cast<std::size_t>(2 * n + 2));
  std::vector<double> balances(static_cast<std::size_t>(n), 100.0);
  optimist::task_queue q;
  q.add([&] { hits.hit(0); });
  q.add_tasks(1L, n + 1, [&](long i) { hits.hit(static_cast<std::size_t>(i)); });
  q.add([&] { hits.hit(static_cast<std::size_t>(n + 1)); });
  // Negative and unsigned indices; an empty range adds nothing.
  q.add_tasks(-n, 0, [&](long i) { hits.hit(static_cast<std::size_t>(2 * n + 2 + i)); });
  q.add_tasks(5u, 5u, [&](unsigned) { ADD_FAILURE() << "an element of an empty range ran"; });
  q.add_tasks(balances, [](double& b) { optimist::store(b, optimist::load(b) * 2); });
  EXPECT_EQ(q.pending(), static_cast<std::size_t>(3 * n + 2));
  q.run(run_with(GetParam()));
  EXPECT_EQ(q.pending(), 0u);
  for (std::size_t i = 0; i < hits.hits.size(); ++i) {
    ASSERT_EQ(hits.count(i), 1) << "element " << i;
  }
  for (double b : balances) ASSERT_EQ(b, 200.0);
}

TEST_P(AddTasksTest, ContainersOfEveryRandomAccessKind) {
  std::deque<long> d(300, 1);
  std::array<long, 50> a{};
  std::vector<long> v(200, 3);
  optimist::task_queue q;
  q.add_tasks(d, [](long& x) { optimist::store(x, optimist::load(x) + 1); });
  q.add_tasks(a, [](long& x) { optimist::store(x, optimist::load(x) + 1); });
  q.add_tasks(std::span<long>(v).subspan(100), [](long& x) { optimist::store(x, 0L); });
  q.run(run_with(GetParam()));
  for (long x : d) ASSERT_EQ(x, 2);
  for (long x : a) ASSERT_EQ(x, 1);
  for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i < 100 ? 3 : 0) << i;
}

TEST_P(AddTasksTest, AnElementThatThrowsIsTheOneNamedAndTheRestRunOnce) {
  watchdog guard("a range with a throwing element");
  const long n = scaled(3000);
  const long failing = n / 3;
  hit_counts hits(static_cast<std::size_t>(n));
  optimist::task_queue q;
  q.add_tasks(0L, n, [&](long i) {
    hits.hit(static_cast<std::size_t>(i));
    if (i == failing) throw element_failure("element " + std::to_string(i));
  });
  try {
    q.run(run_with(GetParam()));
    FAIL() << "the run did not rethrow the element's exception";
  } catch (const element_failure& e) {
    EXPECT_EQ(std::string(e.what()), "element " + std::to_string(failing));
  }
  long ran = 0;
  for (long i = 0; i < n; ++i) ran += hits.count(static_cast<std::size_t>(i));
  EXPECT_EQ(hits.count(static_cast<std::size_t>(failing)), 0) << "its effects were not rolled back";
  EXPECT_EQ(static_cast<std::size_t>(ran) + q.pending(), static_cast<std::size_t>(n - 1));
  q.run(run_with(GetParam()));
  EXPECT_EQ(q.pending(), 0u);
  for (long i = 0; i < n; ++i) {
    ASSERT_EQ(hits.count(static_cast<std::size_t>(i)), i == failing ? 0 : 1) << "element " << i;
  }
}

TEST_P(AddTasksTest, OrderedRunsCommitElementsInIndexOrderBetweenSingleTasks) {
  watchdog guard("an ordered loop of ranges and single tasks");
  const long n = scaled(2000);
  commit_log log(static_cast<std::size_t>(2 * n + 2));
  std::vector<long> ids(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = n + 1 + i;
  optimist::task_queue q;
  q.add([&] { log.append(0); });
  q.add_tasks(1L, n + 1, [&](long i) { log.append(i); });
  q.add_tasks(ids, [&](long& id) { log.append(id); });
  q.add([&] { log.append(2 * n + 1); });
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(log.entries(), iota(0, 2 * n + 2));
}

TEST_P(AddTasksTest, OrderedStopKeepsTheRestOfTheRangeQueuedInOrder) {
  watchdog guard("an ordered range with a throwing and a blocking element");
  const long n = scaled(1500);
  const long failing = n / 3, blocking = 2 * n / 3;
  commit_log log(static_cast<std::size_t>(n));
  optimist::tvar<int> gate{0};
  optimist::task_queue q;
  q.add_tasks(0L, n, [&](long i) {
    if (i == failing) throw element_failure("element " + std::to_string(i));
    if (i == blocking && gate.get() == 0) optimist::retry();
    log.append(i);
  });
  EXPECT_THROW(q.run(run_with(GetParam(), /*ordered=*/true)), element_failure);
  EXPECT_EQ(log.entries(), iota(0, failing));
  EXPECT_EQ(q.pending(), static_cast<std::size_t>(n - failing - 1));
  try {
    q.run(run_with(GetParam(), /*ordered=*/true));
    FAIL() << "the blocked element did not block the run";
  } catch (const optimist::tasks_blocked& e) {
    EXPECT_EQ(e.blocked_tasks(), 1u);
  }
  std::vector<long> want = iota(0, failing);
  for (long i = failing + 1; i < blocking; ++i) want.push_back(i);
  EXPECT_EQ(log.entries(), want);
  EXPECT_EQ(q.pending(), static_cast<std::size_t>(n - blocking));
  gate.set(1);
  q.run(run_with(GetParam(), /*ordered=*/true));
  for (long i = blocking; i < n; ++i) want.push_back(i);
  EXPECT_EQ(log.entries(), want);
  EXPECT_EQ(q.pending(), 0u);
}

// Ordered runs commit runs of consecutive turns as one transaction (turn
// groups); a task that becomes inevitable, retries before its turn or throws
// only in speculation must still act exactly as alone: I/O once, in order.
TEST_P(AddTasksTest, OrderedGroupsKeepInevitableIoOnceAndInOrder) {
  watchdog guard("ordered turn groups with inevitable, retrying and throwing tasks");
  const long n = scaled(3000);
  commit_log log(static_cast<std::size_t>(n));
  std::vector<long> io;  // written only by inevitable tasks, in commit order
  std::atomic<long> io_calls{0};
  optimist::tvar<long> last{-1};
  optimist::task_queue q;
  q.add_tasks(0L, n, [&](long i) {
    const long previous = last.get();
    if (i % 97 == 5 && previous != i - 1) optimist::retry();  // until its predecessor commits
    if (i % 89 == 3 && previous != i - 1) throw element_failure("speculation only");
    if (i % 53 == 7) {
      optimist::become_inevitable();
      io_calls.fetch_add(1);
      io.push_back(i);
    }
    last.set(i);
    log.append(i);
  });
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(log.entries(), iota(0, n));
  std::vector<long> want_io;
  for (long i = 0; i < n; ++i) {
    if (i % 53 == 7) want_io.push_back(i);
  }
  EXPECT_EQ(io, want_io);
  EXPECT_EQ(io_calls.load(), static_cast<long>(want_io.size()));
}

// Unordered runs may run consecutive elements in one transaction; an element
// that becomes inevitable (I/O) must still do its I/O exactly once, and every
// element commits exactly once, also under conflicts (a shared counter).
TEST_P(AddTasksTest, UnorderedGroupsKeepInevitableIoOnce) {
  watchdog guard("unordered element groups with inevitable elements");
  const long n = scaled(5000);
  hit_counts hits(static_cast<std::size_t>(n));
  std::atomic<long> io_calls{0};
  optimist::tvar<long> total{0};
  optimist::task_queue q;
  q.add_tasks(0L, n, [&](long i) {
    hits.hit(static_cast<std::size_t>(i));
    if (i % 7 == 0) total.set(total.get() + 1);  // conflicts between workers
    if (i % 53 == 7) {
      optimist::become_inevitable();
      io_calls.fetch_add(1);
    }
  });
  q.run(run_with(GetParam()));
  for (long i = 0; i < n; ++i) ASSERT_EQ(hits.count(static_cast<std::size_t>(i)), 1) << i;
  EXPECT_EQ(total.get(), (n + 6) / 7);
  long want_io = 0;
  for (long i = 0; i < n; ++i) want_io += i % 53 == 7 ? 1 : 0;
  EXPECT_EQ(io_calls.load(), want_io);
}

// Serial mode runs an unordered element group as one serial block (it used to
// split every group at its start, one exception per group). An element that
// becomes inevitable still splits its group first: here the element after
// each inevitable one throws the first time it runs, which rolls its group
// back (or, run alone, leaves the run); had the inevitable element done its
// I/O inside the group, the split would repeat it.
TEST_P(AddTasksTest, SerialRunsGroupElementsAndKeepInevitableIoOnce) {
  watchdog guard("element groups in serial mode with inevitable and throwing elements");
  const long n = scaled(5000);
  hit_counts hits(static_cast<std::size_t>(n));
  std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
  std::atomic<long> io_calls{0};
  optimist::task_queue q;
  q.add_tasks(0L, n, [&](long i) {
    hits.hit(static_cast<std::size_t>(i));
    if (i % 53 == 7) {
      optimist::become_inevitable();
      io_calls.fetch_add(1);
    }
    // Outside the STM on purpose: only the first run of the element throws.
    if (i % 53 == 8 && runs[static_cast<std::size_t>(i)].fetch_add(1) == 0)
      throw std::runtime_error(std::to_string(i));
  });
  optimist::run_options options = run_with(GetParam());
  options.mode = optimist::execution_mode::serial;
  optimist::reset_stats();
  // An element that runs alone the first time throws out of the run: run the
  // rest again (each element throws once at most).
  std::vector<long> thrown_out(static_cast<std::size_t>(n), 0);  // the run's exception: done
  for (long round = 0; round <= n / 53 + 1; ++round) {
    try {
      q.run(options);
      break;
    } catch (const std::runtime_error& e) {
      thrown_out[static_cast<std::size_t>(std::stol(e.what()))] = 1;
    }
  }
  EXPECT_EQ(q.pending(), 0u);
  for (long i = 0; i < n; ++i) {
    const auto u = static_cast<std::size_t>(i);
    if (thrown_out[u] == 1) {
      ASSERT_EQ(hits.count(u), 0) << "element " << i << " threw: rolled back";
    } else if (i % 53 == 8) {
      // Thrown while another element's exception was the run's (only the
      // first is rethrown), or run in a group that split: once at most.
      ASSERT_LE(hits.count(u), 1) << "element " << i;
    } else {
      ASSERT_EQ(hits.count(u), 1) << "element " << i;
    }
  }
  long want_io = 0;
  for (long i = 0; i < n; ++i) want_io += i % 53 == 7 ? 1 : 0;
  EXPECT_EQ(io_calls.load(), want_io)
      << "an inevitable element's I/O ran again after its group split";
  const optimist::statistics s = optimist::stats();
  EXPECT_EQ(s.serial_commits, s.commits) << "every block ran serially";
  long committed = 0;
  for (long i = 0; i < n; ++i) committed += hits.count(static_cast<std::size_t>(i));
  EXPECT_LT(s.commits, static_cast<std::uint64_t>(committed))
      << "no group committed several elements";
}

// stats(): a group is one transaction; grouped_tasks counts the tasks that
// shared the transaction of the task before them, so that commits plus
// grouped_tasks is the number of tasks committed, in every mode and at every
// thread count, for elements and for consecutive single tasks alike.
TEST_P(AddTasksTest, CommitsPlusGroupedTasksCountEveryTask) {
  watchdog guard("commits and grouped tasks of a run of tiny tasks");
  const long n = scaled(20000);
  std::vector<long> words(static_cast<std::size_t>(n), 0);
  optimist::task_queue q;
  q.add_tasks(0L, n / 2, [&](long i) {
    long& w = words[static_cast<std::size_t>(i)];
    optimist::store(w, optimist::load(w) + 1);
  });
  for (long i = n / 2; i < n; ++i) {
    long* w = &words[static_cast<std::size_t>(i)];
    q.add([w] { optimist::store(*w, optimist::load(*w) + 1); });
  }
  optimist::reset_stats();
  q.run(run_with(GetParam()));
  const optimist::statistics s = optimist::stats();
  for (long i = 0; i < n; ++i) ASSERT_EQ(words[static_cast<std::size_t>(i)], 1) << "task " << i;
  EXPECT_EQ(s.commits + s.grouped_tasks, static_cast<std::uint64_t>(n));
  if (GetParam() == 1) {
    // One worker, no conflicts: groups grow after a few single tasks.
    EXPECT_GT(s.grouped_tasks, 0u) << "no group committed several tasks";
  }
}

// Serial groups cannot conflict: they grow past the speculative limit
// (max_turn_group, 64 elements) up to a chunk (max_serial_group, 512).
TEST_P(AddTasksTest, SerialGroupsGrowPastTheSpeculativeLimit) {
  watchdog guard("serial groups of tiny elements");
  const long n = 20000;  // not scaled: the bound below is about group sizes
  std::vector<long> words(static_cast<std::size_t>(n), 0);
  optimist::task_queue q;
  q.add_tasks(0L, n, [&](long i) {
    long& w = words[static_cast<std::size_t>(i)];
    optimist::store(w, optimist::load(w) + 1);
  });
  optimist::run_options options = run_with(GetParam());
  options.mode = optimist::execution_mode::serial;
  optimist::reset_stats();
  q.run(options);
  const optimist::statistics s = optimist::stats();
  for (long i = 0; i < n; ++i) ASSERT_EQ(words[static_cast<std::size_t>(i)], 1) << "task " << i;
  EXPECT_EQ(s.commits + s.grouped_tasks, static_cast<std::uint64_t>(n));
  if (GetParam() == 1) {
    // Groups of 64 at most would take more than n / 64 blocks.
    EXPECT_LT(s.commits, static_cast<std::uint64_t>(n / 64))
        << "serial groups stayed at the speculative limit";
  }
}

TEST_P(AddTasksTest, TasksAddRangesThatRunInTheSameRunInOrder) {
  watchdog guard("tasks adding ranges");
  const long per_task = scaled(300);
  const long adders = 4;
  commit_log log(static_cast<std::size_t>(adders * (per_task + 1)));
  optimist::task_queue q;
  for (long a = 0; a < adders; ++a) {
    q.add([&, a] {
      log.append(-1 - a);
      q.add_tasks(0L, per_task, [&, a](long i) { log.append(a * per_task + i); });
    });
  }
  q.run(run_with(GetParam(), /*ordered=*/true));
  EXPECT_EQ(q.pending(), 0u);
  std::vector<long> want;
  for (long a = 0; a < adders; ++a) want.push_back(-1 - a);
  for (long i = 0; i < adders * per_task; ++i) want.push_back(i);
  EXPECT_EQ(log.entries(), want);

  // Unordered, and an aborted adder adds nothing: each element exactly once.
  hit_counts hits(static_cast<std::size_t>(adders * per_task));
  optimist::tvar<long> contended{0};
  for (long a = 0; a < adders; ++a) {
    q.add([&, a] {
      contended.set(contended.get() + 1);  // adders conflict and re-run
      q.add_tasks(0L, per_task,
                  [&, a](long i) { hits.hit(static_cast<std::size_t>(a * per_task + i)); });
    });
  }
  q.run(run_with(GetParam()));
  for (std::size_t i = 0; i < hits.hits.size(); ++i) ASSERT_EQ(hits.count(i), 1) << i;
}

TEST_P(AddTasksTest, ElementsThatRetryWaitAndBlockedOnesStayPending) {
  watchdog guard("range elements that retry");
  const long n = scaled(200);
  optimist::tvar<long> items{0}, consumed{0};
  optimist::task_queue q;
  // Consumers first, producers after: at one worker every consumer waits.
  q.add_tasks(0L, n, [&](long) {
    const long have = items.get();
    if (have == 0) optimist::retry();
    items.set(have - 1);
    consumed.set(consumed.get() + 1);
  });
  q.add_tasks(0L, n, [&](long) { items.set(items.get() + 1); });
  q.run(run_with(GetParam()));
  EXPECT_EQ(consumed.get(), n);
  EXPECT_EQ(q.pending(), 0u);

  // One more consumer than producers: that one blocks, stays, runs later.
  q.add_tasks(0L, n + 1, [&](long) {
    const long have = items.get();
    if (have == 0) optimist::retry();
    items.set(have - 1);
    consumed.set(consumed.get() + 1);
  });
  q.add_tasks(0L, n, [&](long) { items.set(items.get() + 1); });
  try {
    q.run(run_with(GetParam()));
    FAIL() << "the run with a consumer too many returned";
  } catch (const optimist::tasks_blocked& e) {
    EXPECT_EQ(e.blocked_tasks(), 1u);
  }
  EXPECT_EQ(consumed.get(), 2 * n);
  EXPECT_EQ(q.pending(), 1u);
  items.set(1);
  q.run(run_with(GetParam()));
  EXPECT_EQ(consumed.get(), 2 * n + 1);
  EXPECT_EQ(q.pending(), 0u);
}

TEST_P(AddTasksTest, TheCallableIsDestroyedOnceWhenTheLastElementIsDone) {
  auto alive = std::make_shared<int>(0);
  optimist::task_queue q;
  q.add_tasks(0, 1000, [alive](int) {});
  q.add_tasks(0, 1000, [alive](int i) {
    if (i == 500) throw element_failure("stop");
  });
  EXPECT_EQ(alive.use_count(), 3);
  EXPECT_THROW(q.run(run_with(GetParam())), element_failure);
  if (q.pending() > 0) {
    EXPECT_GE(alive.use_count(), 2);
  }
  q.run(run_with(GetParam()));
  EXPECT_EQ(alive.use_count(), 1);
  {
    optimist::task_queue dropped;  // destroyed with its range unrun: freed, with a warning
    dropped.add_tasks(0, 10, [alive](int) {});
    EXPECT_EQ(alive.use_count(), 2);
  }
  EXPECT_EQ(alive.use_count(), 1);
}

TEST(AddTasksInputTest, BadRangesAndCallablesAreRefused) {
  optimist::task_queue q;
  EXPECT_THROW(q.add_tasks(5, 3, [](int) {}), std::invalid_argument);
  std::function<void(int)> empty;
  EXPECT_THROW(q.add_tasks(0, 3, empty), std::invalid_argument);
  std::vector<int> v(3);
  std::function<void(int&)> empty_for_elements;
  EXPECT_THROW(q.add_tasks(v, empty_for_elements), std::invalid_argument);
  EXPECT_EQ(q.pending(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Threads, AddTasksTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace add_tasks_test
