// The task queue: every task runs exactly once in its own transaction, tasks
// may add tasks (queued only when the adding transaction commits), exceptions
// roll a task back and leave the tasks not yet started queued, and the misuses
// the contract names are rejected.
//
// Task bodies may run more than once (an attempt that loses a conflict is
// rolled back and re-run), so what a test counts it counts transactionally
// (optimist::load / store, tvar): only the committed run of a task is seen.
// Plain counters appear only where a test counts *attempts* on purpose.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/describe_stats.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace task_queue_test {

namespace {

using optimist::test::busy_work;
using optimist::test::run_with;
using optimist::test::scaled;

// The exception a failing task throws: a type of its own, so that the test can
// tell it apart from anything the runtime might throw instead.
struct task_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

long sum_of(const std::vector<long>& slots) {
  long total = 0;
  for (const long& slot : slots) total += optimist::load(slot);
  return total;
}

// Makes the calling transaction's attempt certain to be rolled back: it reads
// `v`, another thread commits a new value to `v`, and reading `v` again finds
// it newer than the attempt's snapshot, which can no longer be extended.
void lose_this_attempt(optimist::tvar<long>& v, long seen) {
  std::thread([&v, seen] { v.set(seen + 1); }).join();
  (void)v.get();  // throws the engine's restart signal
  ADD_FAILURE() << "the attempt survived a conflicting commit to what it had read";
}
void lose_this_attempt(optimist::tvar<long>& v) {
  lose_this_attempt(v, v.get());
}

class TaskQueueTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    ASSERT_EQ(optimist::global_task_queue().pending(), 0u) << "an earlier test left tasks behind";
  }
  void TearDown() override {
    EXPECT_EQ(optimist::global_task_queue().pending(), 0u) << "this test left tasks behind";
  }
};

TEST_P(TaskQueueTest, EveryTaskRunsExactlyOnce) {
  const std::size_t count = static_cast<std::size_t>(scaled(50000));
  std::vector<long> runs(count, 0);
  optimist::tvar<long> total{0};  // one hot word: every task conflicts on it
  std::atomic<long> outside_transaction{0};
  optimist::task_queue q;
  for (std::size_t i = 0; i < count; ++i) {
    q.add([&, i] {
      if (!optimist::in_transaction()) outside_transaction.fetch_add(1);
      const long seen = total.get();
      optimist::store(runs[i], optimist::load(runs[i]) + 1);
      // Work between the read and the commit: tasks on other workers commit
      // to `total` meanwhile, so attempts really are rolled back and re-run.
      const long one = static_cast<long>(busy_work(i, 300) | 1) & 1;
      total.set(seen + one);
    });
  }
  EXPECT_EQ(q.pending(), count);

  optimist::reset_stats();
  {
    optimist::test::watchdog guard("running independent tasks");
    q.run(run_with(GetParam()));
  }
  std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());

  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(outside_transaction.load(), 0) << "a task body ran outside a transaction";
  EXPECT_EQ(total.get(), static_cast<long>(count));
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (runs[i] != 1 && wrong++ < 5) ADD_FAILURE() << "task " << i << " committed " << runs[i];
  }
  EXPECT_EQ(wrong, 0u);
  // Every task committed exactly once (runs[i] above); a worker may commit
  // consecutive tasks in one transaction, so there are at most as many
  // writing commits as tasks (they all write, so none is read-only).
  const std::uint64_t writing = optimist::stats().commits - optimist::stats().read_only_commits;
  EXPECT_GE(writing, 1u);
  EXPECT_LE(writing, count);
}

TEST_P(TaskQueueTest, GlobalQueueRunsEveryTaskExactlyOnceWithItsArguments) {
  const std::size_t count = static_cast<std::size_t>(scaled(5000));
  std::vector<long> sums(count, 0);
  // Arguments are copied in at add time: `i` changes afterwards, the tasks
  // must not see it.
  for (std::size_t i = 0; i < count; ++i) {
    optimist::add_task(
        [&sums](std::size_t slot, long amount) {
          optimist::store(sums[slot], optimist::load(sums[slot]) + amount);
        },
        i, static_cast<long>(i) + 1);
  }
  // A move-only callable is moved in.
  auto extra = std::make_unique<long>(1000);
  long moved_into = 0;
  optimist::add_task([p = std::move(extra), &moved_into] { optimist::store(moved_into, *p); });
  EXPECT_EQ(optimist::global_task_queue().pending(), count + 1);

  optimist::run_all_tasks(run_with(GetParam()));

  EXPECT_EQ(optimist::global_task_queue().pending(), 0u);
  for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(sums[i], static_cast<long>(i) + 1) << i;
  EXPECT_EQ(moved_into, 1000);
}

// A complete tree: every node is a task that adds its children. Node ids use
// heap numbering (children of n are n*b+1 .. n*b+b), so each id is visited
// exactly once if and only if every add happened exactly once.
struct task_tree {
  optimist::task_queue* queue;  // nullptr: the global queue
  std::vector<long> visits;
  std::size_t branching;
  int depth;

  static std::size_t size_for(std::size_t branching, int depth) {
    std::size_t size = 0;
    std::size_t level = 1;
    for (int d = 0; d <= depth; ++d, level *= branching) size += level;
    return size;
  }

  task_tree(optimist::task_queue* q, std::size_t b, int d)
      : queue(q), visits(size_for(b, d), 0), branching(b), depth(d) {}

  void add(std::size_t id, int level) {
    if (queue != nullptr) {
      queue->add([this, id, level] { visit(id, level); });
    } else {
      optimist::add_task([this, id, level] { visit(id, level); });
    }
  }

  void visit(std::size_t id, int level) {
    optimist::store(visits[id], optimist::load(visits[id]) + 1);
    if (level == depth) return;
    for (std::size_t k = 1; k <= branching; ++k) add(id * branching + k, level + 1);
  }

  void expect_each_node_visited_once() const {
    std::size_t wrong = 0;
    for (std::size_t id = 0; id < visits.size(); ++id) {
      if (visits[id] != 1 && wrong++ < 5) {
        ADD_FAILURE() << "node " << id << " ran " << visits[id] << " times";
      }
    }
    EXPECT_EQ(wrong, 0u);
  }
};

TEST_P(TaskQueueTest, TasksAddingTasksRunTheWholeTreeOnce) {
  optimist::task_queue q;
  task_tree tree(&q, 3, 8 + (optimist::test::stress_scale() > 1 ? 2 : 0));
  tree.add(0, 0);
  {
    optimist::test::watchdog guard("running a tree of tasks");
    q.run(run_with(GetParam()));
  }
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(sum_of(tree.visits), static_cast<long>(tree.visits.size()));
  tree.expect_each_node_visited_once();
}

TEST_P(TaskQueueTest, GlobalQueueTasksAddingTasksRunTheWholeTreeOnce) {
  task_tree tree(nullptr, 4, 5);
  tree.add(0, 0);
  optimist::run_all_tasks(run_with(GetParam()));
  EXPECT_EQ(sum_of(tree.visits), static_cast<long>(tree.visits.size()));
  tree.expect_each_node_visited_once();
}

// Each parent adds a child, then loses its attempt to a conflicting commit:
// the rolled-back attempt must add nothing, so each child runs exactly once
// even though its add_task call ran twice.
TEST_P(TaskQueueTest, ChildAddedByARolledBackAttemptIsQueuedOnce) {
  constexpr std::size_t parents = 8;
  optimist::task_queue q;
  std::vector<long> child_runs(parents, 0);
  std::vector<long> parent_runs(parents, 0);
  std::vector<std::unique_ptr<optimist::tvar<long>>> contested(parents);
  std::vector<std::atomic<int>> attempts(parents);  // plain on purpose: counts attempts
  std::vector<std::atomic<bool>> lost(parents);
  for (std::size_t p = 0; p < parents; ++p) {
    contested[p] = std::make_unique<optimist::tvar<long>>(0);
    q.add([&, p] {
      attempts[p].fetch_add(1);
      q.add([&, p] { optimist::store(child_runs[p], optimist::load(child_runs[p]) + 1); });
      optimist::store(parent_runs[p], optimist::load(parent_runs[p]) + 1);
      // Read before the flag is taken: an attempt already lost (given way,
      // or a conflict) restarts at this read, and must not take the flag.
      const long seen = contested[p]->get();
      if (!lost[p].exchange(true)) lose_this_attempt(*contested[p], seen);
    });
  }
  {
    optimist::test::watchdog guard("running parents that lose their first attempt");
    q.run(run_with(GetParam()));
  }
  EXPECT_EQ(q.pending(), 0u);
  for (std::size_t p = 0; p < parents; ++p) {
    EXPECT_GE(attempts[p].load(), 2) << "parent " << p << " was never rolled back";
    EXPECT_EQ(parent_runs[p], 1) << "parent " << p;
    EXPECT_EQ(child_runs[p], 1) << "child of parent " << p;
    EXPECT_EQ(contested[p]->get(), 1);
  }
}

// Closed nesting: a nested block that throws takes back the tasks it added;
// one that commits hands them to the enclosing task, which queues them when it
// commits.
TEST_P(TaskQueueTest, ChildAddedInANestedBlockFollowsThatBlocksFate) {
  constexpr std::size_t parents = 16;
  optimist::task_queue q;
  std::vector<long> dropped_runs(parents, 0);
  std::vector<long> kept_runs(parents, 0);
  std::vector<long> caught(parents, 0);
  for (std::size_t p = 0; p < parents; ++p) {
    q.add([&, p] {
      try {
        optimist::atomically([&] {
          q.add([&, p] { optimist::store(dropped_runs[p], optimist::load(dropped_runs[p]) + 1); });
          throw task_failure("nested block gives up");
        });
      } catch (const task_failure&) {
        optimist::store(caught[p], optimist::load(caught[p]) + 1);
      }
      optimist::atomically([&] {
        q.add([&, p] { optimist::store(kept_runs[p], optimist::load(kept_runs[p]) + 1); });
      });
    });
  }
  q.run(run_with(GetParam()));
  EXPECT_EQ(q.pending(), 0u);
  for (std::size_t p = 0; p < parents; ++p) {
    EXPECT_EQ(caught[p], 1) << p;
    EXPECT_EQ(dropped_runs[p], 0) << "a task added by a rolled-back nested block ran, parent " << p;
    EXPECT_EQ(kept_runs[p], 1) << "parent " << p;
  }
}

TEST_P(TaskQueueTest, ThrowingTaskIsRolledBackAndTheRestStayQueued) {
  const int threads = GetParam();
  const std::size_t count = static_cast<std::size_t>(scaled(2000));
  const std::size_t failing = count / 4;
  std::vector<long> runs(count, 0);
  optimist::tvar<long> total{0};
  optimist::task_queue q;
  for (std::size_t i = 0; i < count; ++i) {
    q.add([&, i] {
      optimist::store(runs[i], optimist::load(runs[i]) + 1);
      total.set(total.get() + 1);
      if (i == failing) throw task_failure("task " + std::to_string(i) + " failed");
    });
  }

  bool thrown = false;
  try {
    q.run(run_with(threads));
  } catch (const task_failure& e) {
    thrown = true;
    EXPECT_EQ(std::string(e.what()), "task " + std::to_string(failing) + " failed");
  }
  ASSERT_TRUE(thrown) << "the run did not rethrow the task's exception";

  EXPECT_EQ(runs[failing], 0) << "the failing task's effects were not rolled back";
  const long done = sum_of(runs);
  EXPECT_EQ(total.get(), done);
  // Nothing lost: each task either committed or is still queued.
  EXPECT_EQ(static_cast<std::size_t>(done) + q.pending(), count - 1);
  if (threads == 1) {
    // One worker takes tasks in the order they were added and stops at the failure.
    EXPECT_EQ(q.pending(), count - failing - 1);
    EXPECT_EQ(done, static_cast<long>(failing));
  }

  q.run(run_with(threads));  // the rest; the failed task is gone
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(total.get(), static_cast<long>(count) - 1);
  for (std::size_t i = 0; i < count; ++i) {
    ASSERT_EQ(runs[i], i == failing ? 0 : 1) << "task " << i;
  }
}

// The first exception wins and the run still ends: several tasks throw.
TEST_P(TaskQueueTest, SeveralThrowingTasksRethrowOneOfThem) {
  optimist::task_queue q;
  long committed = 0;
  constexpr int count = 200;
  for (int i = 0; i < count; ++i) {
    q.add([&, i] {
      optimist::store(committed, optimist::load(committed) + 1);
      if (i % 10 == 3) throw task_failure("failure " + std::to_string(i));
    });
  }
  int runs = 0;
  for (;;) {
    ++runs;
    ASSERT_LE(runs, count) << "runs keep failing without progress";
    try {
      q.run(run_with(GetParam()));
      break;
    } catch (const task_failure& e) {
      EXPECT_EQ(std::string(e.what()).rfind("failure ", 0), 0u) << e.what();
    }
  }
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(committed, count - count / 10);
  EXPECT_GE(runs, 2);
}

// Unordered tasks that do I/O become inevitable one at a time: each prints
// exactly once, whatever order they commit in.
TEST_P(TaskQueueTest, InevitableTasksDoTheirIoExactlyOnce) {
  const long count = optimist::test::scaled(600);
  optimist::task_queue q;
  std::vector<long> printed_by_committed(static_cast<std::size_t>(count), 0);
  std::mutex out_mutex;  // the I/O itself: tasks on other workers print too
  std::vector<int> printed(static_cast<std::size_t>(count), 0);
  optimist::tvar<long> shared{0};
  for (long i = 0; i < count; ++i) {
    q.add([&, i] {
      const long seen = shared.get();  // conflicts with every other task
      if (i % 3 == 0) {
        optimist::become_inevitable();
        std::lock_guard<std::mutex> lock(out_mutex);
        ++printed[static_cast<std::size_t>(i)];
      }
      shared.set(seen + 1 + static_cast<long>(busy_work(static_cast<std::uint64_t>(i), 200) & 0));
      auto& mine = printed_by_committed[static_cast<std::size_t>(i)];
      optimist::store(mine, optimist::load(mine) + 1);
    });
  }
  {
    optimist::test::watchdog guard("running unordered inevitable tasks");
    q.run(run_with(GetParam()));
  }
  EXPECT_EQ(shared.get(), count);
  for (long i = 0; i < count; ++i) {
    const auto at = static_cast<std::size_t>(i);
    ASSERT_EQ(printed_by_committed[at], 1) << "task " << i;
    ASSERT_EQ(printed[at], i % 3 == 0 ? 1 : 0)
        << "task " << i << " printed a wrong number of times";
  }
}

TEST_P(TaskQueueTest, RunFromInsideATaskIsALogicError) {
  optimist::task_queue q;
  long effect = 0;
  q.add([&] {
    optimist::store(effect, 1L);
    q.run();
  });
  EXPECT_THROW(q.run(run_with(GetParam())), std::logic_error);
  EXPECT_EQ(effect, 0) << "the task that called run() was not rolled back";

  optimist::add_task([&] {
    optimist::store(effect, 2L);
    optimist::run_all_tasks();
  });
  EXPECT_THROW(optimist::run_all_tasks(run_with(GetParam())), std::logic_error);
  EXPECT_EQ(effect, 0);

  // Running another queue from a task is no better.
  optimist::task_queue other;
  q.add([&] { other.run(); });
  EXPECT_THROW(q.run(run_with(GetParam())), std::logic_error);

  // Both queues still work afterwards.
  q.add([&] { optimist::store(effect, optimist::load(effect) + 3); });
  q.run(run_with(GetParam()));
  optimist::add_task([&] { optimist::store(effect, optimist::load(effect) + 4); });
  optimist::run_all_tasks(run_with(GetParam()));
  EXPECT_EQ(effect, 7);
}

INSTANTIATE_TEST_SUITE_P(Threads, TaskQueueTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

// --- Adding tasks from atomic blocks outside any run --------------------------------------------

TEST(TaskQueueAddInTransaction, QueuedOnlyWhenTheBlockCommits) {
  optimist::task_queue& global = optimist::global_task_queue();
  ASSERT_EQ(global.pending(), 0u);
  long runs = 0;
  auto task = [&runs] { optimist::store(runs, optimist::load(runs) + 1); };

  // Committed: queued once.
  optimist::atomically([&] { optimist::add_task(task); });
  EXPECT_EQ(global.pending(), 1u);

  // An exception escapes the block: not queued, the exception is unchanged.
  try {
    optimist::atomically([&] {
      optimist::add_task(task);
      EXPECT_EQ(global.pending(), 1u) << "queued before the block committed";
      throw task_failure("block fails");
    });
    ADD_FAILURE() << "the exception did not escape the block";
  } catch (const task_failure& e) {
    EXPECT_EQ(std::string(e.what()), "block fails");
  }
  EXPECT_EQ(global.pending(), 1u);

  // Rolled back once by a conflict, then committed: queued exactly once.
  optimist::tvar<long> contested{0};
  int attempts = 0;
  optimist::atomically([&] {
    ++attempts;
    optimist::add_task(task);
    if (attempts == 1) lose_this_attempt(contested);
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(global.pending(), 2u);

  // A nested block that throws takes its task back; the outer block commits.
  optimist::atomically([&] {
    try {
      optimist::atomically([&] {
        optimist::add_task(task);
        throw task_failure("inner fails");
      });
    } catch (const task_failure&) {
    }
  });
  EXPECT_EQ(global.pending(), 2u);

  // The inner block commits, the outer one throws: nothing.
  EXPECT_THROW(optimist::atomically([&] {
                 optimist::atomically([&] { optimist::add_task(task); });
                 throw task_failure("outer fails");
               }),
               task_failure);
  EXPECT_EQ(global.pending(), 2u);

  // A task_queue object behaves the same.
  optimist::task_queue q;
  EXPECT_THROW(optimist::atomically([&] {
                 q.add(task);
                 throw task_failure("block fails");
               }),
               task_failure);
  EXPECT_EQ(q.pending(), 0u);
  optimist::atomically([&] { q.add(task); });
  EXPECT_EQ(q.pending(), 1u);

  EXPECT_EQ(runs, 0) << "a task ran before any run";
  optimist::run_all_tasks(run_with(2));
  EXPECT_EQ(runs, 2);
  q.run(run_with(2));
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(global.pending(), 0u);
}

// --- Misuse -------------------------------------------------------------------------------------

TEST(TaskQueueMisuse, RunInsideAnAtomicBlockIsALogicError) {
  optimist::task_queue q;
  long runs = 0;
  q.add([&] { optimist::store(runs, optimist::load(runs) + 1); });
  EXPECT_THROW(optimist::atomically([&] { q.run(); }), std::logic_error);
  EXPECT_THROW(optimist::atomically([&] { optimist::run_all_tasks(); }), std::logic_error);
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(runs, 0);
  q.run(run_with(1));
  EXPECT_EQ(runs, 1);
}

struct counter_holder {
  long value = 0;
  void bump() { optimist::store(value, optimist::load(value) + 1); }
};

TEST(TaskQueueMisuse, EmptyCallablesAreRejectedAtAddTime) {
  optimist::task_queue q;
  std::function<void()> empty;
  std::function<void(int)> empty_with_argument;
  void (*null_function)() = nullptr;
  void (counter_holder::*null_member)() = nullptr;
  counter_holder holder;

  EXPECT_THROW(q.add(empty), std::invalid_argument);
  EXPECT_THROW(q.add(empty_with_argument, 5), std::invalid_argument);
  EXPECT_THROW(q.add(null_function), std::invalid_argument);
  EXPECT_THROW(q.add(null_member, &holder), std::invalid_argument);
  EXPECT_THROW(optimist::add_task(empty), std::invalid_argument);
  EXPECT_THROW(optimist::add_task(null_function), std::invalid_argument);
  // Inside a transaction too, at once (not at commit).
  optimist::atomically([&] { EXPECT_THROW(q.add(empty), std::invalid_argument); });
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(optimist::global_task_queue().pending(), 0u);

  // The non-empty versions of the same kinds are accepted.
  q.add(&counter_holder::bump, &holder);
  q.add(std::function<void()>([&] { holder.bump(); }));
  EXPECT_EQ(q.pending(), 2u);
  q.run(run_with(1));
  EXPECT_EQ(holder.value, 2);
}

TEST(TaskQueueMisuse, ConcurrentRunOfTheSameQueueIsALogicError) {
  optimist::task_queue q;
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  q.add([&] {  // touches no transactional state: one attempt
    entered.store(true);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!release.load() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
  });
  std::thread first([&] { q.run(run_with(1)); });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!entered.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  if (!entered.load()) {
    // (An ASSERT here would leave `first` joinable: std::terminate, the suite lost.)
    ADD_FAILURE() << "the first run never entered its task";
    release.store(true);
    first.join();
    return;
  }
  EXPECT_THROW(q.run(run_with(1)), std::logic_error);
  release.store(true);
  first.join();
  // And the queue is usable again once the first run ended.
  long runs = 0;
  q.add([&] { optimist::store(runs, 1L); });
  q.run(run_with(1));
  EXPECT_EQ(runs, 1);
}

// --- Queues as objects --------------------------------------------------------------------------

TEST(TaskQueueObjects, QueuesAreIndependentOfEachOtherAndOfTheGlobalQueue) {
  optimist::task_queue a;
  optimist::task_queue b;
  optimist::task_queue& global = optimist::global_task_queue();
  ASSERT_EQ(global.pending(), 0u);
  long ran_a = 0;
  long ran_b = 0;
  long ran_global = 0;
  auto bump = [](long& counter) { optimist::store(counter, optimist::load(counter) + 1); };
  for (int i = 0; i < 3; ++i) a.add(bump, std::ref(ran_a));
  for (int i = 0; i < 5; ++i) b.add(bump, std::ref(ran_b));
  for (int i = 0; i < 2; ++i) optimist::add_task(bump, std::ref(ran_global));
  // A task of `a` adding to `b` and to the global queue: queued there, not run by a's run.
  a.add([&] {
    b.add(bump, std::ref(ran_b));
    optimist::add_task(bump, std::ref(ran_global));
  });
  EXPECT_EQ(a.pending(), 4u);
  EXPECT_EQ(b.pending(), 5u);
  EXPECT_EQ(global.pending(), 2u);

  a.run(run_with(2));
  EXPECT_EQ(ran_a, 3);
  EXPECT_EQ(a.pending(), 0u);
  EXPECT_EQ(ran_b, 0);
  EXPECT_EQ(b.pending(), 6u);
  EXPECT_EQ(ran_global, 0);
  EXPECT_EQ(global.pending(), 3u);

  b.run(run_with(2));
  EXPECT_EQ(ran_b, 6);
  EXPECT_EQ(global.pending(), 3u);
  optimist::run_all_tasks(run_with(2));
  EXPECT_EQ(ran_global, 3);
  EXPECT_EQ(global.pending(), 0u);

  // Running an empty queue is fine.
  a.run(run_with(2));
  EXPECT_EQ(a.pending(), 0u);
}

TEST_P(TaskQueueTest, TasksAddedByAnotherThreadDuringARunWaitForTheNextRun) {
  const std::size_t count = 500;
  optimist::task_queue q;
  std::vector<long> runs(count, 0);
  long outsider_runs = 0;
  std::atomic<bool> added{false};
  for (std::size_t i = 0; i < count; ++i) {
    q.add([&, i] {
      // The plain thread is not a task: what it adds is queued at once
      // (whatever becomes of this attempt), so it is added only once.
      if (i == count / 2 && !added.exchange(true)) {
        std::thread([&] {
          q.add([&] { optimist::store(outsider_runs, optimist::load(outsider_runs) + 1); });
        }).join();
      }
      optimist::store(runs[i], optimist::load(runs[i]) + 1);
    });
  }
  q.run(run_with(GetParam()));
  EXPECT_EQ(sum_of(runs), static_cast<long>(count));
  EXPECT_EQ(outsider_runs, 0) << "the task added by another thread ran in the same run";
  EXPECT_EQ(q.pending(), 1u);
  q.run(run_with(GetParam()));
  EXPECT_EQ(outsider_runs, 1);
  EXPECT_EQ(q.pending(), 0u);
}

// The two promises together: a task added by a task runs in this run, one
// added meanwhile by another thread waits — even when the other thread's task
// was queued first.
TEST_P(TaskQueueTest, TaskAddedByATaskRunsEvenWhenAnotherThreadAddedOneBefore) {
  for (bool ordered : {false, true}) {
    SCOPED_TRACE(ordered ? "ordered" : "unordered");
    const std::size_t count = 50;
    optimist::task_queue q;
    std::vector<long> runs(count, 0);
    long outsider_runs = 0;
    long child_runs = 0;
    std::atomic<bool> added{false};
    for (std::size_t i = 0; i < count; ++i) {
      q.add([&, i] {
        if (i == 0) {
          if (!added.exchange(true)) {
            std::thread([&] {
              q.add([&] { optimist::store(outsider_runs, optimist::load(outsider_runs) + 1); });
            }).join();
          }
          // Queued when this task commits: after the outsider.
          q.add([&] { optimist::store(child_runs, optimist::load(child_runs) + 1); });
        }
        optimist::store(runs[i], optimist::load(runs[i]) + 1);
      });
    }
    {
      optimist::test::watchdog guard("running tasks while another thread adds one");
      q.run(run_with(GetParam(), ordered));
    }
    EXPECT_EQ(sum_of(runs), static_cast<long>(count));
    EXPECT_EQ(child_runs, 1) << "a task added by a task was left for the next run";
    EXPECT_EQ(outsider_runs, 0) << "a task added by another thread ran in the same run";
    EXPECT_EQ(q.pending(), 1u);
    q.run(run_with(GetParam(), ordered));
    EXPECT_EQ(child_runs, 1);
    EXPECT_EQ(outsider_runs, 1);
    EXPECT_EQ(q.pending(), 0u);
  }
}

TEST(TaskQueueObjects, DestroyingAQueueWithPendingTasksFreesThemWithAWarning) {
  auto token = std::make_shared<int>(7);
  ::testing::internal::CaptureStderr();
  {
    optimist::task_queue q;
    q.add([token] { ADD_FAILURE() << "a pending task ran when its queue was destroyed"; });
    q.add([token] { ADD_FAILURE() << "a pending task ran when its queue was destroyed"; });
    EXPECT_EQ(token.use_count(), 3);
    EXPECT_EQ(q.pending(), 2u);
  }
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(token.use_count(), 1) << "the pending tasks were not destroyed";
  EXPECT_NE(warning.find("2 task(s) that never ran"), std::string::npos) << warning;

  // No warning for a queue that was drained.
  ::testing::internal::CaptureStderr();
  {
    optimist::task_queue q;
    q.add([token] {});
    q.run(run_with(1));
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(token.use_count(), 1) << "a task that ran was not destroyed";
}

}  // namespace

}  // namespace task_queue_test
