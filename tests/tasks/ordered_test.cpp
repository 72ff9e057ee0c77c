// Ordered mode (run_options::ordered): tasks run speculatively in parallel but
// commit in the order they were added, so any loop — loop-carried
// dependencies included — gives exactly the sequential loop's result; tasks
// added by tasks come after everything added before; inevitable tasks (I/O)
// neither deadlock nor print out of order; and only the exceptions that the
// sequential loop would also throw escape.
//
// Every check compares with the same loop run sequentially, and every result
// is order-sensitive (a wrapping multiply-add, not a sum), so a single pair of
// tasks committed out of order changes it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/describe_stats.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/commit_log.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace ordered_test {

namespace {

using optimist::test::busy_work;
using optimist::test::run_with;
using optimist::test::scaled;
using u64 = std::uint64_t;

struct task_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr int repetitions = 3;

u64 step(u64 previous, u64 i) {
  return previous * 6364136223846793005ull + i + 1;
}

using optimist::test::commit_log;

class OrderedTest : public ::testing::TestWithParam<int> {};

// x[i] = step(x[i-1], i): every task depends on the one before it.
TEST_P(OrderedTest, LoopCarriedChainGivesTheSequentialResult) {
  const std::size_t count = static_cast<std::size_t>(scaled(5000));
  std::vector<u64> expected(count);
  for (std::size_t i = 0; i < count; ++i) expected[i] = step(i == 0 ? 17 : expected[i - 1], i);

  for (int repetition = 0; repetition < repetitions; ++repetition) {
    std::vector<u64> x(count, 0);
    optimist::task_queue q;
    for (std::size_t i = 0; i < count; ++i) {
      q.add([&x, i] {
        const u64 previous = i == 0 ? 17 : optimist::load(x[i - 1]);
        optimist::store(x[i], step(previous, i) + (busy_work(i, 300) & 0));
      });
    }
    optimist::reset_stats();
    {
      optimist::test::watchdog guard("running an ordered loop-carried chain");
      q.run(run_with(GetParam(), /*ordered=*/true));
    }
    std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());
    ASSERT_EQ(q.pending(), 0u);
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_EQ(x[i], expected[i]) << "element " << i << ", repetition " << repetition;
    }
  }
}

// Each task reads a few random earlier slots, writes its own slot and folds
// its value into one shared accumulator.
TEST_P(OrderedTest, RandomDependenciesGiveTheSequentialResult) {
  const std::size_t count = static_cast<std::size_t>(scaled(5000));
  for (int repetition = 0; repetition < repetitions; ++repetition) {
    std::mt19937_64 random(1234 + static_cast<u64>(repetition));
    std::vector<std::vector<std::size_t>> reads(count);
    for (std::size_t i = 1; i < count; ++i) {
      std::uniform_int_distribution<std::size_t> earlier(0, i - 1);
      for (int k = 0; k < 3; ++k) reads[i].push_back(earlier(random));
    }
    auto value_of = [&](std::size_t i, auto&& slot) {
      u64 v = i + 1;
      for (std::size_t from : reads[i]) v = v * 31 + slot(from);
      return v;
    };

    std::vector<u64> expected(count);
    u64 expected_accumulator = 1;
    for (std::size_t i = 0; i < count; ++i) {
      expected[i] = value_of(i, [&](std::size_t from) { return expected[from]; });
      expected_accumulator = expected_accumulator * 1000003 + expected[i];
    }

    std::vector<u64> slots(count, 0);
    optimist::tvar<u64> accumulator{1};
    optimist::task_queue q;
    for (std::size_t i = 0; i < count; ++i) {
      q.add([&, i] {
        const u64 v = value_of(i, [&](std::size_t from) { return optimist::load(slots[from]); });
        optimist::store(slots[i], v + (busy_work(v, 300) & 0));
        accumulator.set(accumulator.get() * 1000003 + v);
      });
    }
    {
      optimist::test::watchdog guard("running an ordered loop with random dependencies");
      q.run(run_with(GetParam(), /*ordered=*/true));
    }
    ASSERT_EQ(q.pending(), 0u);
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_EQ(slots[i], expected[i]) << "slot " << i << ", repetition " << repetition;
    }
    EXPECT_EQ(accumulator.get(), expected_accumulator) << "repetition " << repetition;
  }
}

// Roots 0..R-1 each grow a binary tree; every node logs its id when it
// commits. Ordered mode must commit them in queue order: all roots, then the
// roots' children in the order their parents committed, and so on — the
// breadth-first order of the sequential loop.
TEST_P(OrderedTest, TasksAddedByTasksComeAfterEverythingAddedBefore) {
  constexpr long roots = 20;
  constexpr int depth = 5;
  struct forest {
    optimist::task_queue q;
    commit_log log{roots << (depth + 1)};
    void add(long root, long index, int level) {
      q.add([this, root, index, level] { visit(root, index, level); });
    }
    void visit(long root, long index, int level) {
      log.append(root * 1000 + index);
      if (level == depth) return;
      add(root, 2 * index + 1, level + 1);
      add(root, 2 * index + 2, level + 1);
    }
  };

  std::vector<long> expected;
  {
    struct node {
      long root, index;
      int level;
    };
    std::deque<node> queue;
    for (long r = 0; r < roots; ++r) queue.push_back({r, 0, 0});
    while (!queue.empty()) {
      node n = queue.front();
      queue.pop_front();
      expected.push_back(n.root * 1000 + n.index);
      if (n.level == depth) continue;
      queue.push_back({n.root, 2 * n.index + 1, n.level + 1});
      queue.push_back({n.root, 2 * n.index + 2, n.level + 1});
    }
  }

  for (int repetition = 0; repetition < repetitions; ++repetition) {
    forest f;
    for (long r = 0; r < roots; ++r) f.add(r, 0, 0);
    {
      optimist::test::watchdog guard("running an ordered forest of tasks");
      f.q.run(run_with(GetParam(), /*ordered=*/true));
    }
    EXPECT_EQ(f.q.pending(), 0u);
    ASSERT_EQ(f.log.entries(), expected) << "repetition " << repetition;
  }
}

// Some tasks become inevitable and print; the printing must come out in task
// order, exactly once per task, and the run must finish.
TEST_P(OrderedTest, InevitableTasksPrintInTaskOrderWithoutDeadlock) {
  const long count = scaled(600);
  std::string expected_output;
  u64 expected_accumulator = 5;
  for (long i = 0; i < count; ++i) {
    expected_accumulator = expected_accumulator * 7 + static_cast<u64>(i);
    if (i % 3 == 0) expected_output += std::to_string(i) + "\n";
  }

  for (int repetition = 0; repetition < repetitions; ++repetition) {
    std::ostringstream out;
    optimist::tvar<u64> accumulator{5};
    optimist::task_queue q;
    for (long i = 0; i < count; ++i) {
      q.add([&, i] {
        if (i % 6 == 0) optimist::become_inevitable();  // before reading anything
        const u64 seen = accumulator.get();
        if (i % 6 == 3) optimist::become_inevitable();  // after a read another task writes
        if (i % 3 == 0) out << i << "\n";
        accumulator.set(seen * 7 + static_cast<u64>(i) + (busy_work(seen, 300) & 0));
      });
    }
    optimist::reset_stats();
    {
      optimist::test::watchdog guard("running ordered tasks that become inevitable",
                                     std::chrono::seconds(60 * optimist::test::stress_scale()));
      q.run(run_with(GetParam(), /*ordered=*/true));
    }
    const optimist::statistics s = optimist::stats();
    std::printf("%s\n", optimist::test::describe(s).c_str());
    EXPECT_GE(s.irrevocable, static_cast<u64>((count + 2) / 3));
    ASSERT_EQ(out.str(), expected_output) << "repetition " << repetition;
    EXPECT_EQ(accumulator.get(), expected_accumulator) << "repetition " << repetition;
  }
}

// A task throws only when it sees its predecessor unwritten — which the
// sequential loop never lets happen, but a speculative attempt may. Such
// exceptions must be taken for what they are (a lost speculation) and re-run.
TEST_P(OrderedTest, ExceptionsOnlySpeculationSeesDoNotEscape) {
  const std::size_t count = static_cast<std::size_t>(scaled(3000));
  std::vector<u64> expected(count);
  for (std::size_t i = 0; i < count; ++i) {
    expected[i] = step(i == 0 ? 17 : expected[i - 1], i);
    ASSERT_NE(expected[i], 0u);  // 0 means "not written yet" below
  }
  std::atomic<long> speculative_throws{0};  // attempts, counted on purpose
  for (int repetition = 0; repetition < repetitions; ++repetition) {
    std::vector<u64> x(count, 0);
    optimist::task_queue q;
    for (std::size_t i = 0; i < count; ++i) {
      q.add([&, i] {
        const u64 previous = i == 0 ? 17 : optimist::load(x[i - 1]);
        if (previous == 0) {
          speculative_throws.fetch_add(1);
          throw task_failure("task " + std::to_string(i) + " ran before its predecessor");
        }
        optimist::store(x[i], step(previous, i) + (busy_work(i, 300) & 0));
      });
    }
    {
      optimist::test::watchdog guard("running an ordered chain whose speculation throws");
      EXPECT_NO_THROW(q.run(run_with(GetParam(), /*ordered=*/true)));
    }
    ASSERT_EQ(q.pending(), 0u);
    for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(x[i], expected[i]) << i;
  }
  std::printf("speculative attempts that threw: %ld\n", speculative_throws.load());
  if (GetParam() == 1) {
    EXPECT_EQ(speculative_throws.load(), 0);
  }
}

// A task that really throws: everything before it has committed, in order;
// nothing after it has (as in the sequential loop, which stops there), and
// the next run finishes them in order.
TEST_P(OrderedTest, ThrowingTaskKeepsEverythingBeforeItAndTheRestRunsNextTime) {
  const long count = scaled(400);
  const long failing = count / 4;
  commit_log log(static_cast<std::size_t>(count));
  optimist::task_queue q;
  for (long i = 0; i < count; ++i) {
    q.add([&, i] {
      log.append(i);
      if (i == failing) throw task_failure("task " + std::to_string(i) + " failed");
    });
  }

  {
    optimist::test::watchdog guard("running an ordered loop with a failing task");
    try {
      q.run(run_with(GetParam(), /*ordered=*/true));
      ADD_FAILURE() << "the run did not rethrow the task's exception";
    } catch (const task_failure& e) {
      EXPECT_EQ(std::string(e.what()), "task " + std::to_string(failing) + " failed");
    }
  }
  const std::vector<long> first = log.entries();
  ASSERT_GE(first.size(), static_cast<std::size_t>(failing));
  EXPECT_EQ(first.size(), static_cast<std::size_t>(failing));
  EXPECT_EQ(q.pending(), static_cast<std::size_t>(count - 1 - failing));
  for (std::size_t at = 0; at < first.size(); ++at) {
    const long want =
        static_cast<long>(at) < failing ? static_cast<long>(at) : static_cast<long>(at) + 1;
    ASSERT_EQ(first[at], want) << "position " << at << " after the failed run";
  }

  {
    optimist::test::watchdog guard("running the rest of an ordered loop");
    q.run(run_with(GetParam(), /*ordered=*/true));
  }
  const std::vector<long> all = log.entries();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(count - 1));
  for (std::size_t at = 0; at < all.size(); ++at) {
    const long want =
        static_cast<long>(at) < failing ? static_cast<long>(at) : static_cast<long>(at) + 1;
    ASSERT_EQ(all[at], want) << "position " << at;
  }
}

// An inevitable task that throws still hands its turn on and gives the
// inevitability token back: the run ends, and inevitable tasks of the next run
// (and any other transaction) can become inevitable again.
TEST_P(OrderedTest, InevitableTaskThatThrowsReleasesItsTurnAndTheToken) {
  const long count = 60;
  const long failing = 30;
  for (int repetition = 0; repetition < 2; ++repetition) {
    std::ostringstream out;
    commit_log log(static_cast<std::size_t>(count));
    optimist::task_queue q;
    for (long i = 0; i < count; ++i) {
      q.add([&, i] {
        log.append(i);
        if (i % 2 == 0) {
          optimist::become_inevitable();
          out << i << "\n";
          if (i == failing) throw task_failure("inevitable task failed");
        }
      });
    }
    {
      optimist::test::watchdog guard("running ordered inevitable tasks, one of which throws",
                                     std::chrono::seconds(60 * optimist::test::stress_scale()));
      EXPECT_THROW(q.run(run_with(GetParam(), /*ordered=*/true)), task_failure);
      q.run(run_with(GetParam(), /*ordered=*/true));
      // Outside any run: the token must be free.
      optimist::atomically([&] {
        optimist::become_inevitable();
        out << "after\n";
      });
    }
    std::string expected;
    for (long i = 0; i < count; i += 2) expected += std::to_string(i) + "\n";
    expected += "after\n";
    EXPECT_EQ(out.str(), expected) << "repetition " << repetition;
    std::vector<long> want;
    for (long i = 0; i < count; ++i) {
      if (i != failing) want.push_back(i);
    }
    EXPECT_EQ(log.entries(), want) << "repetition " << repetition;
  }
}

// An ordered run leaves nothing behind that changes the next run, ordered or
// not, on the same queue.
TEST_P(OrderedTest, OrderedAndUnorderedRunsAlternateOnOneQueue) {
  optimist::task_queue q;
  for (int round = 0; round < 4; ++round) {
    const bool ordered = round % 2 == 0;
    const std::size_t count = 300;
    commit_log log(count);
    for (std::size_t i = 0; i < count; ++i) q.add([&log, i] { log.append(static_cast<long>(i)); });
    {
      optimist::test::watchdog guard("alternating ordered and unordered runs");
      q.run(run_with(GetParam(), ordered));
    }
    std::vector<long> entries = log.entries();
    ASSERT_EQ(entries.size(), count) << "round " << round;
    if (ordered) {
      for (std::size_t at = 0; at < count; ++at) ASSERT_EQ(entries[at], static_cast<long>(at));
    } else {
      std::sort(entries.begin(), entries.end());
      for (std::size_t at = 0; at < count; ++at) ASSERT_EQ(entries[at], static_cast<long>(at));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, OrderedTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace ordered_test
