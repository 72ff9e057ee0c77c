// Where tasks live between add and run (runtime/tasks/task_storage.hpp): small
// tasks are built in place in the queue's storage and released with it after
// the run, large and over-aligned ones live on the heap. Whatever the kind,
// every task keeps its captured state intact until it runs, runs exactly once
// and is destroyed exactly once — also when a run stops early and its
// unstarted tasks (and the storage they live in) wait for the next run, and
// when building a task throws.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace task_storage_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;

struct task_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `bytes` bytes derived from `seed`: a task checks that what it captured is
// still what was added.
template <std::size_t bytes>
std::array<unsigned char, bytes> pattern(std::size_t seed) {
  std::array<unsigned char, bytes> p{};
  for (std::size_t k = 0; k < bytes; ++k) p[k] = static_cast<unsigned char>(seed * 131 + k * 7);
  return p;
}

template <std::size_t bytes>
bool matches(const std::array<unsigned char, bytes>& p, std::size_t seed) {
  return p == pattern<bytes>(seed);
}

class TaskStorageTest : public ::testing::TestWithParam<int> {};

// Tasks of 16 bytes up to beyond the storage's 1 KiB limit, interleaved, fill
// many storage blocks: each sees exactly what it captured, once.
TEST_P(TaskStorageTest, TasksOfEverySizeKeepWhatTheyCaptured) {
  const std::size_t count = static_cast<std::size_t>(scaled(20000));
  std::vector<long> result(count, 0);  // 1: ran and saw its payload; -1: saw garbage
  optimist::task_queue q;
  for (int round = 0; round < 2; ++round) {  // a second run reuses the queue after a release
    for (std::size_t i = 0; i < count; ++i) {
      long* slot = &result[i];
      auto report = [slot](bool ok) {
        optimist::store(*slot, optimist::load(*slot) + (ok ? 1 : -1000));
      };
      switch (i % 4) {
        case 0:
          q.add([report, i](std::size_t seed) { report(seed == i); }, i);
          break;
        case 1:
          q.add([report, i, p = pattern<200>(i)] { report(matches(p, i)); });
          break;
        case 2:
          q.add([report, i, p = pattern<1000>(i)] { report(matches(p, i)); });
          break;
        default:  // too large for the storage: a heap task
          q.add([report, i, p = pattern<3000>(i)] { report(matches(p, i)); });
          break;
      }
    }
    EXPECT_EQ(q.pending(), count);
    q.run(run_with(GetParam()));
    EXPECT_EQ(q.pending(), 0u);
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_EQ(result[i], round + 1) << "task " << i << " (kind " << i % 4 << ")";
    }
  }
}

// Each task is destroyed exactly once, after it ran: the captured token's use
// count falls back to one, and a task never runs after its destruction.
TEST_P(TaskStorageTest, TasksWithDestructorsAreDestroyedExactlyOnce) {
  const std::size_t count = static_cast<std::size_t>(scaled(10000));
  auto token = std::make_shared<int>(42);
  std::vector<long> runs(count, 0);
  optimist::task_queue q;
  for (std::size_t i = 0; i < count; ++i) {
    q.add(
        [token, &runs](std::size_t index, const std::string& name) {
          const bool intact = *token == 42 && name == "task number " + std::to_string(index);
          optimist::store(runs[index], optimist::load(runs[index]) + (intact ? 1 : -1000));
        },
        i, "task number " + std::to_string(i));
  }
  EXPECT_EQ(token.use_count(), static_cast<long>(count) + 1);
  q.run(run_with(GetParam()));
  EXPECT_EQ(token.use_count(), 1) << "tasks that ran were not destroyed";
  for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(runs[i], 1) << "task " << i;
}

// Alignment: a task aligned to 64 bytes is built in the storage, one aligned to
// 128 on the heap; both see their own object at its alignment.
TEST_P(TaskStorageTest, OverAlignedTasksGetTheirAlignment) {
  struct alignas(64) line {
    std::uint64_t value;
  };
  struct alignas(128) two_lines {
    std::uint64_t value;
  };
  const std::size_t count = 500;
  std::vector<long> misaligned(count, 0);
  std::vector<long> runs(count, 0);
  optimist::task_queue q;
  for (std::size_t i = 0; i < count; ++i) {
    long* bad = &misaligned[i];
    long* ran = &runs[i];
    if (i % 2 == 0) {
      q.add([bad, ran, l = line{i}, i] {
        if (reinterpret_cast<std::uintptr_t>(&l) % 64 != 0 || l.value != i)
          optimist::store(*bad, 1L);
        optimist::store(*ran, optimist::load(*ran) + 1);
      });
    } else {
      q.add([bad, ran, l = two_lines{i}, i] {
        if (reinterpret_cast<std::uintptr_t>(&l) % 128 != 0 || l.value != i)
          optimist::store(*bad, 1L);
        optimist::store(*ran, optimist::load(*ran) + 1);
      });
    }
  }
  q.run(run_with(GetParam()));
  for (std::size_t i = 0; i < count; ++i) {
    ASSERT_EQ(runs[i], 1) << "task " << i;
    ASSERT_EQ(misaligned[i], 0) << "task " << i << " saw its captures misaligned or changed";
  }
}

// A run that stops early keeps its unstarted tasks — and the storage they live
// in — for the next run, also when that run stops early again and when more
// tasks were added in between. Under AddressSanitizer a released block would
// show as a use after free.
TEST_P(TaskStorageTest, TasksLeftByStoppedRunsKeepTheirStateUntilTheyRun) {
  const std::size_t first_batch = static_cast<std::size_t>(scaled(3000));
  const std::size_t second_batch = 500;
  const std::size_t count = first_batch + second_batch;
  const std::size_t failing[] = {first_batch / 3, first_batch + second_batch / 2};
  auto token = std::make_shared<int>(7);
  std::vector<long> runs(count, 0);
  optimist::task_queue q;
  auto add = [&](std::size_t i) {
    q.add([token, &runs, &failing, i, name = "task " + std::to_string(i) + " of many"] {
      const bool intact = *token == 7 && name == "task " + std::to_string(i) + " of many";
      optimist::store(runs[i], optimist::load(runs[i]) + (intact ? 1 : -1000));
      if (i == failing[0] || i == failing[1]) throw task_failure(name);
    });
  };
  for (std::size_t i = 0; i < first_batch; ++i) add(i);

  EXPECT_THROW(q.run(run_with(GetParam())), task_failure);
  EXPECT_GT(q.pending(), 0u);
  for (std::size_t i = first_batch; i < count; ++i) add(i);  // into fresh storage

  int stopped = 1;
  for (;;) {
    ASSERT_LE(stopped, 3) << "runs keep stopping";
    try {
      q.run(run_with(GetParam()));
      break;
    } catch (const task_failure&) {
      ++stopped;
    }
  }
  EXPECT_EQ(stopped, 2) << "each failing task stops exactly one run";
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(token.use_count(), 1) << "a task was not destroyed exactly once";
  for (std::size_t i = 0; i < count; ++i) {
    const bool fails = i == failing[0] || i == failing[1];
    ASSERT_EQ(runs[i], fails ? 0 : 1) << "task " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, TaskStorageTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

// A callable whose copy throws on request: the add that copies it fails.
struct copy_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct fails_when_copied {
  long* runs;
  bool fail;
  fails_when_copied(long* r, bool f) : runs(r), fail(f) {}
  fails_when_copied(const fails_when_copied& other) : runs(other.runs), fail(other.fail) {
    if (fail) throw copy_failure("copy refused");
  }
  void operator()() const { optimist::store(*runs, optimist::load(*runs) + 1); }
};

TEST(TaskStorageAdd, AnAddWhoseCopyThrowsQueuesNothingAndTheQueueGoesOn) {
  const std::size_t count = static_cast<std::size_t>(scaled(20000));  // several blocks
  std::vector<long> runs(count, 0);
  optimist::task_queue q;
  std::size_t refused = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const fails_when_copied task(&runs[i], i % 97 == 5);
    if (task.fail) {
      EXPECT_THROW(q.add(task), copy_failure);
      ++refused;
    } else {
      q.add(task);
    }
  }
  EXPECT_EQ(q.pending(), count - refused);
  q.run(run_with(2));
  EXPECT_EQ(q.pending(), 0u);
  for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(runs[i], i % 97 == 5 ? 0 : 1) << "task " << i;
}

// Building a task holds its queue's add lock: a copy constructor that adds to
// the same queue is told so (instead of deadlocking), whether what it adds is
// built in the storage or on the heap, and it may add to another queue.
template <std::size_t payload>
struct adds_when_copied {
  optimist::task_queue* target;
  long* runs;
  adds_when_copied(optimist::task_queue* t, long* r) : target(t), runs(r) {}
  adds_when_copied(const adds_when_copied& other) : target(other.target), runs(other.runs) {
    long* counter = runs;
    target->add([counter, bulk = std::array<char, payload>{}] {
      optimist::store(*counter, optimist::load(*counter) + 1 + bulk[0]);
    });
  }
  void operator()() const { optimist::store(*runs, optimist::load(*runs) + 1); }
};

template <std::size_t payload>
void check_adds_from_a_copy_constructor() {
  long runs = 0;
  optimist::task_queue q;
  const adds_when_copied<payload> into_itself(&q, &runs);
  try {
    q.add(into_itself);
    ADD_FAILURE() << "an add from the copy constructor of a task for the same queue went through";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("being built"), std::string::npos) << e.what();
  }
  EXPECT_EQ(q.pending(), 0u);

  optimist::task_queue other;
  const adds_when_copied<payload> into_other(&other, &runs);
  q.add(into_other);  // the copy adds one task to `other`
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(other.pending(), 1u);
  q.run(run_with(1));
  other.run(run_with(1));
  EXPECT_EQ(runs, 2);
}

TEST(TaskStorageAdd, AddingToTheSameQueueWhileATaskIsBuiltIsALogicError) {
  check_adds_from_a_copy_constructor<8>();     // the added task would be built in the storage
  check_adds_from_a_copy_constructor<4096>();  // the added task would live on the heap
}

// The same after an add to another queue in between: the inner add's end
// restored "no queue" instead of the outer one, so the add to the first queue
// went through under its own add (a biased add entered twice; the outer end
// then unlocked a lock it did not hold, or the next revoker waited for ever).
struct adds_elsewhere_then_home {
  optimist::task_queue* home;
  optimist::task_queue* elsewhere;
  long* runs;
  adds_elsewhere_then_home(optimist::task_queue* h, optimist::task_queue* e, long* r)
      : home(h), elsewhere(e), runs(r) {}
  adds_elsewhere_then_home(const adds_elsewhere_then_home& other)
      : home(other.home), elsewhere(other.elsewhere), runs(other.runs) {
    long* counter = runs;
    elsewhere->add([counter] { optimist::store(*counter, optimist::load(*counter) + 1); });
    home->add([counter] { optimist::store(*counter, optimist::load(*counter) + 100); });
  }
  void operator()() const { optimist::store(*runs, optimist::load(*runs) + 1); }
};

TEST(TaskStorageAdd, AddingToTheSameQueueAfterAnotherQueueIsALogicErrorToo) {
  optimist::test::watchdog guard("an add to its own queue from a task's copy constructor");
  long runs = 0;
  optimist::task_queue q, other;
  for (int round = 0; round < 3; ++round) {  // (later rounds add on the biased path)
    q.add([&runs] { optimist::store(runs, optimist::load(runs) + 0); });
    const adds_elsewhere_then_home task(&q, &other, &runs);
    try {
      q.add(task);
      ADD_FAILURE() << "round " << round << ": an add to the queue whose task was being built "
                    << "went through after an add to another queue";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("being built"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(q.pending(), 3u);
  EXPECT_EQ(other.pending(), 3u);
  q.run(run_with(2));
  other.run(run_with(2));
  EXPECT_EQ(runs, 3);
}

// Two levels down: building a task for `home` adds to `elsewhere` a task whose
// own copy adds to `home` again. Only the innermost queue was checked.
struct adds_home_when_copied {
  optimist::task_queue* home;
  long* runs;
  adds_home_when_copied(optimist::task_queue* h, long* r) : home(h), runs(r) {}
  adds_home_when_copied(const adds_home_when_copied& other) : home(other.home), runs(other.runs) {
    long* counter = runs;
    home->add([counter] { optimist::store(*counter, optimist::load(*counter) + 100); });
  }
  void operator()() const { optimist::store(*runs, optimist::load(*runs) + 1); }
};
struct adds_through_another_queue {
  optimist::task_queue* home;
  optimist::task_queue* elsewhere;
  long* runs;
  adds_through_another_queue(optimist::task_queue* h, optimist::task_queue* e, long* r)
      : home(h), elsewhere(e), runs(r) {}
  adds_through_another_queue(const adds_through_another_queue& other)
      : home(other.home), elsewhere(other.elsewhere), runs(other.runs) {
    const adds_home_when_copied inner(home, runs);
    elsewhere->add(inner);  // copies inner while building for `elsewhere`, inside `home`'s add
  }
  void operator()() const { optimist::store(*runs, optimist::load(*runs) + 1); }
};

TEST(TaskStorageAdd, AddingToTheSameQueueTwoQueuesDownIsALogicErrorToo) {
  optimist::test::watchdog guard("an add to its own queue two queues down");
  long runs = 0;
  optimist::task_queue q, other;
  for (int round = 0; round < 3; ++round) {
    q.add([&runs] { optimist::store(runs, optimist::load(runs) + 0); });
    const adds_through_another_queue task(&q, &other, &runs);
    try {
      q.add(task);
      ADD_FAILURE() << "round " << round << ": an add two queues down went through";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("being built"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(q.pending(), 3u);
  EXPECT_EQ(other.pending(), 0u);
  q.run(run_with(2));
  EXPECT_EQ(runs, 0);
}

// A run started while a task is built (from its copy constructor) is refused:
// the builder holds the queue's add lock or bias, and a run of the same queue
// took the storage of the half-built task from under it (the add's end then
// counted it into an emptied queue: a slot pointing into recycled storage).
struct runs_when_copied {
  optimist::task_queue* target;
  long* runs;
  runs_when_copied(optimist::task_queue* t, long* r) : target(t), runs(r) {}
  runs_when_copied(const runs_when_copied& other) : target(other.target), runs(other.runs) {
    target->run(run_with(1));
  }
  void operator()() const { optimist::store(*runs, optimist::load(*runs) + 1); }
};

TEST(TaskStorageAdd, RunningAQueueWhileATaskIsBuiltIsALogicError) {
  optimist::test::watchdog guard("a run from a task's copy constructor");
  long runs = 0;
  optimist::task_queue q, other;
  // Enough adds from this thread for the queue's bias (later adds take the fast path).
  for (int i = 0; i < 2000; ++i)
    q.add([&runs] { optimist::store(runs, optimist::load(runs) + 1); });
  for (optimist::task_queue* target : {&q, &other}) {
    const runs_when_copied task(target, &runs);
    try {
      q.add(task);
      ADD_FAILURE() << "a run from the copy constructor of a task went through";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("being built"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(q.pending(), 2000u);
  q.run(run_with(2));
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(runs, 2000);
}

// Thread O holds the bias of queues A and B; building a task for B, it adds
// to A, while thread R takes A's lock and revokes O's bias on A. R waits only
// while O is inside A's fast path (INVARIANT bias-wait-is-own). Before, it
// waited for O's adds to any queue: O's add to B never ended (its nested add
// to A waited for R's lock) and neither thread went on.
struct adds_to_a_when_copied {
  optimist::task_queue* a;
  std::atomic<int>* step;
  long* runs;
  adds_to_a_when_copied(optimist::task_queue* q, std::atomic<int>* s, long* r)
      : a(q), step(s), runs(r) {}
  adds_to_a_when_copied(const adds_to_a_when_copied& other)
      : a(other.a), step(other.step), runs(other.runs) {
    if (step->load() == 0) return;  // (the warm-up adds: copies that add nothing)
    step->store(2);                 // R: take A's lock now
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    long* counter = runs;
    a->add([counter] { optimist::store(*counter, optimist::load(*counter) + 10); });
  }
  void operator()() const { optimist::store(*runs, optimist::load(*runs) + 100); }
};

TEST(TaskStorageAdd, RevokingABiasDoesNotWaitForTheOwnersAddToAnotherQueue) {
  optimist::test::watchdog guard("a revocation beside the owner's add to another queue");
  long runs = 0;
  optimist::task_queue a, b;
  std::atomic<int> step{0};
  const adds_to_a_when_copied task(&a, &step, &runs);
  // Enough adds from this thread for the bias of both queues; B's are of the
  // kind of the last one, which then takes the fast path (the open segment's
  // next element) and builds its task inside it.
  for (int i = 0; i < 2000; ++i) {
    a.add([&runs] { optimist::store(runs, optimist::load(runs) + 1); });
    b.add(task);  // (step 0: the copy adds nothing)
  }
  step.store(1);
  std::thread revoker([&] {
    while (step.load() != 2) std::this_thread::yield();
    a.add([&runs] { optimist::store(runs, optimist::load(runs) + 1000); });
  });
  b.add(task);
  revoker.join();
  EXPECT_EQ(a.pending(), 2002u);
  EXPECT_EQ(b.pending(), 2001u);
  a.run(run_with(2));
  b.run(run_with(2));
  EXPECT_EQ(runs, 2000 + 2001 * 100 + 10 + 1000);
}

}  // namespace

}  // namespace task_storage_test
