// Ordered runs whose blocks run serially (serial mode, or auto mode's serial
// verdict, forced here through the controller's test seam): a group of
// consecutive turns waits for its turn first and then runs as one serial
// block (INVARIANT serial-turn-first, runtime/tasks/task_queue_state.hpp).
// Each task below extends one chain (every task reads what the one before it
// wrote), so any task that ran out of turn shows in the result:
//   - the turns run as serial groups (fewer blocks than tasks, every one
//     serial), in the sequential loop's order;
//   - a group that gives way to a joined writer (its writes undone, the group
//     re-run speculatively while it holds its turn) loses and repeats nothing;
//   - a task that throws stops the run at its turn, as the loop would;
//   - a task that becomes inevitable splits its group first: its I/O runs
//     once, in turn order.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/serial_verdict.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace ordered_serial_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;
using optimist::test::watchdog;
using u64 = std::uint64_t;

u64 step(u64 previous, std::size_t i) {
  return previous * 6364136223846793005ull + i + 1;
}

// What task i saw of the chain in the sequential loop.
std::vector<u64> sequential_chain(std::size_t n) {
  std::vector<u64> seen(n);
  u64 value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    seen[i] = value;
    value = step(value, i);
  }
  return seen;
}

// The chain every task extends: task i reads it, records what it saw and
// writes step(that, i).
struct chain {
  explicit chain(std::size_t n) : seen(n, 0) {}
  void extend(std::size_t i) {
    const u64 c = value.get();
    optimist::store(seen[i], c);
    value.set(step(c, i));
  }
  optimist::tvar<u64> value{0};
  std::vector<u64> seen;
};

struct chain_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class OrderedSerialTest : public optimist::test::serial_verdict_test {};

TEST_P(OrderedSerialTest, ConsecutiveTurnsRunAsSerialGroupsInOrder) {
  const std::size_t n = 20000;  // not scaled: the bound below is about group sizes
  chain c(n);
  optimist::task_queue q;
  for (std::size_t i = 0; i < n; ++i) q.add([&c, i] { c.extend(i); });
  {
    watchdog guard("an ordered run of serial groups");
    q.run(run_with(GetParam(), /*ordered=*/true));
  }
  ASSERT_EQ(q.pending(), 0u);
  EXPECT_EQ(c.seen, sequential_chain(n)) << "a task ran out of turn";
  const optimist::statistics s = optimist::stats();
  EXPECT_EQ(s.commits + s.grouped_tasks, n);
  // Before, ordered blocks never ran serially in auto mode, and split into
  // single turns in serial mode.
  EXPECT_EQ(s.serial_commits, s.commits) << "an ordered block ran speculatively";
  EXPECT_LT(s.commits, n / 64) << "the turns did not run as groups";
}

TEST_P(OrderedSerialTest, GroupsThatGiveWayToAJoinedWriterLoseNothing) {
  const std::size_t n = static_cast<std::size_t>(scaled(4000));
  constexpr std::size_t every = 64;  // tasks that join a writer
  chain c(n);
  std::vector<long> commits(n, 0);
  std::vector<std::unique_ptr<optimist::tvar<long>>> outside(n / every + 1);
  for (auto& o : outside) o = std::make_unique<optimist::tvar<long>>(0);
  std::vector<std::atomic<bool>> joined(outside.size());
  optimist::task_queue q;
  for (std::size_t i = 0; i < n; ++i) {
    q.add([&, i] {
      optimist::store(commits[i], optimist::load(commits[i]) + 1);
      c.extend(i);
      if (i % every != 0) return;
      optimist::tvar<long>& o = *outside[i / every];
      // Read before the flag is taken: an attempt already lost restarts at
      // this read, and must not take the flag.
      const long before = o.get();
      if (!joined[i / every].exchange(true)) {
        // The writer waits at the gate this serial group holds: the group
        // gives way (its writes undone) and runs again, still at its turn.
        std::thread([&o, before] { o.set(before + 1); }).join();
        (void)o.get();  // restarts: given way (serial) or a conflict (speculative)
        ADD_FAILURE() << "task " << i << " survived a write to what it had read";
      }
    });
  }
  {
    watchdog guard("ordered serial groups that give way to a joined writer");
    q.run(run_with(GetParam(), /*ordered=*/true));
  }
  ASSERT_EQ(q.pending(), 0u);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(commits[i], 1) << "task " << i;
  EXPECT_EQ(c.seen, sequential_chain(n)) << "a task ran out of turn";
  for (std::size_t k = 0; k < outside.size(); ++k)
    EXPECT_EQ(outside[k]->get(), 1) << "the write of joined writer " << k << " was lost";
  EXPECT_GT(optimist::stats().serial_commits, 0u) << "nothing ran serially";
}

TEST_P(OrderedSerialTest, ATaskThatThrowsStopsTheRunAtItsTurn) {
  const std::size_t n = static_cast<std::size_t>(scaled(3000));
  const std::size_t failing = n / 2 + 3;  // inside a group, not at its start
  chain c(n);
  std::atomic<bool> fail{true};
  optimist::task_queue q;
  for (std::size_t i = 0; i < n; ++i) {
    q.add([&, i] {
      c.extend(i);
      if (i == failing && fail.load()) throw chain_failure("task " + std::to_string(i));
    });
  }
  {
    watchdog guard("an ordered run of serial groups that stops");
    EXPECT_THROW(q.run(run_with(GetParam(), /*ordered=*/true)), chain_failure);
  }
  // The loop stopped at the failing task: everything before it committed,
  // nothing from it on.
  const std::vector<u64> want = sequential_chain(n);
  EXPECT_EQ(q.pending(), n - failing - 1);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(c.seen[i], i < failing ? want[i] : 0) << "task " << i;
  }
  EXPECT_EQ(c.value.get(), want[failing])
      << "the chain holds what the tasks before the failing one made";
  EXPECT_GT(optimist::stats().serial_commits, 0u) << "nothing ran serially";
}

TEST_P(OrderedSerialTest, ATaskThatBecomesInevitableRunsItsIOOnceInTurn) {
  const std::size_t n = static_cast<std::size_t>(scaled(2000));
  chain c(n);
  std::mutex io_mutex;
  std::vector<std::size_t> io;  // the "I/O": which tasks did it, in what order
  optimist::task_queue q;
  for (std::size_t i = 0; i < n; ++i) {
    q.add([&, i] {
      c.extend(i);
      if (i % 97 == 5) {
        optimist::become_inevitable();
        std::lock_guard<std::mutex> lock(io_mutex);
        io.push_back(i);
      }
    });
  }
  {
    watchdog guard("ordered serial groups with inevitable tasks");
    q.run(run_with(GetParam(), /*ordered=*/true));
  }
  ASSERT_EQ(q.pending(), 0u);
  EXPECT_EQ(c.seen, sequential_chain(n)) << "a task ran out of turn";
  std::vector<std::size_t> want;
  for (std::size_t i = 5; i < n; i += 97) want.push_back(i);
  EXPECT_EQ(io, want) << "an inevitable task's I/O ran twice, or out of turn";
  EXPECT_GT(optimist::stats().serial_commits, 0u) << "nothing ran serially";
}

INSTANTIATE_TEST_SUITE_P(Threads, OrderedSerialTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace ordered_serial_test
