// optimist::tvector: the semantics of std::vector (with every index checked),
// inside and outside transactions, under concurrency.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "interleave.hpp"
#include "optimist/atomically.hpp"
#include "optimist/containers.hpp"
#include "optimist/stats.hpp"
#include "reclaim_at_exit.hpp"
#include "support/describe_stats.hpp"
#include "support/heap_bytes.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace tvector_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

TEST(TvectorTest, SingleThreadMatchesStdVector) {
  optimist::tvector<long> vector;
  std::vector<long> model;
  std::mt19937_64 random(3);
  for (long step = 0; step < scaled(30000); ++step) {
    const long value = static_cast<long>(random() % 1000);
    switch (random() % 6) {
      case 0:
      case 1:
        vector.push_back(value);
        model.push_back(value);
        break;
      case 2:
        if (model.empty()) {
          EXPECT_THROW(vector.pop_back(), std::out_of_range);
        } else {
          EXPECT_EQ(vector.pop_back(), model.back());
          model.pop_back();
        }
        break;
      case 3:
        if (!model.empty()) {
          const std::size_t i = random() % model.size();
          EXPECT_EQ(vector[i] += value, model[i] += value);
        }
        break;
      case 4:
        if (!model.empty()) {
          const std::size_t i = random() % model.size();
          vector[i] = value;
          model[i] = value;
        }
        break;
      default:
        if (!model.empty()) {
          const std::size_t i = random() % model.size();
          EXPECT_EQ(vector.at(i), model[i]);
        }
        break;
    }
    ASSERT_EQ(vector.size(), model.size());
  }
  EXPECT_EQ(vector.snapshot(), model);
  EXPECT_GE(vector.capacity(), model.size());
  EXPECT_EQ(vector.empty(), model.empty());
  const std::size_t capacity = vector.capacity();
  vector.clear();
  EXPECT_TRUE(vector.empty());
  EXPECT_EQ(vector.capacity(), capacity);
}

TEST(TvectorTest, ConstructorsReserveAndProxies) {
  optimist::tvector<int> filled(20, 7);
  EXPECT_EQ(filled.size(), 20u);
  EXPECT_EQ(filled.at(19), 7);
  optimist::tvector<int> listed{1, 2, 3};
  EXPECT_EQ(listed.snapshot(), (std::vector<int>{1, 2, 3}));
  listed[0] = listed[2];
  EXPECT_EQ(listed.get(0), 3);
  EXPECT_EQ(listed[1]++, 2);
  EXPECT_EQ(--listed[1], 2);
  EXPECT_EQ(listed.update(2, [](const int& x) { return x * 10; }), 30);
  listed.reserve(1000);
  EXPECT_GE(listed.capacity(), 1000u);
  EXPECT_EQ(listed.snapshot(), (std::vector<int>{3, 2, 30}));
  optimist::tvector<double> empty;
  EXPECT_TRUE(empty.empty());
}

TEST(TvectorTest, OutOfRangeIsAnExceptionNamingIndexAndSize) {
  optimist::tvector<long> vector{10, 20, 30};
  try {
    (void)vector.at(3);
    FAIL() << "at(3) on a vector of 3 did not throw";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("index 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("size 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tvector::at"), std::string::npos) << e.what();
  }
  EXPECT_THROW(vector[5] = 1, std::out_of_range);
  EXPECT_THROW((void)static_cast<long>(vector[3]), std::out_of_range);
  EXPECT_THROW(vector.set(100, 1), std::out_of_range);
  vector.clear();
  try {
    vector.pop_back();
    FAIL() << "pop_back() on an empty vector did not throw";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
  // Inside a transaction the exception rolls the transaction back.
  optimist::tvector<long> other{1};
  EXPECT_THROW(optimist::atomically([&] {
                 other.push_back(2);
                 (void)other.at(7);
               }),
               std::out_of_range);
  EXPECT_EQ(other.snapshot(), (std::vector<long>{1}));
}

// update(i, f) with an f that resizes the vector: the result goes to the element as it is after
// f (the growth moved it to a new array), and an f that pops the element away makes the update
// an out_of_range error. (The update used to write into the old array, so the increment was lost,
// or past the end, without an error.)
TEST(TvectorTest, UpdateWhoseFunctionResizesTheVector) {
  optimist::tvector<int> grows(1, 0);
  const std::size_t capacity = grows.capacity();
  EXPECT_EQ(grows.update(0,
                         [&](int a) {
                           for (std::size_t i = 0; i < capacity; ++i) grows.push_back(7);
                           return a + 1;
                         }),
            1);
  EXPECT_GT(grows.capacity(), capacity);
  EXPECT_EQ(grows.at(0), 1);
  EXPECT_EQ(grows.size(), capacity + 1);

  optimist::tvector<int> shrinks{5};
  EXPECT_THROW(shrinks.update(0,
                              [&](int a) {
                                shrinks.pop_back();
                                return a + 1;
                              }),
               std::out_of_range);
  EXPECT_EQ(shrinks.snapshot(), std::vector<int>{5}) << "the pop was rolled back with the update";
}

TEST(TvectorTest, ThrowingTransactionLeavesNoTrace) {
  optimist::tvector<long> vector{1, 2, 3};
  const std::size_t capacity = vector.capacity();
  EXPECT_THROW(optimist::atomically([&] {
                 for (long i = 0; i < 100; ++i) vector.push_back(i);  // grows
                 vector[0] = 100;
                 vector.pop_back();
                 throw std::runtime_error("undo");
               }),
               std::runtime_error);
  EXPECT_EQ(vector.snapshot(), (std::vector<long>{1, 2, 3}));
  EXPECT_EQ(vector.capacity(), capacity);
}

#if OPTIMIST_TEST_HEAP_BYTES
// A growing vector's replaced arrays are freed while it grows (stm mode: they
// go to epoch-based reclamation). Their deletion counts the array, not the
// 24-byte header that points at it, and reclamation frees at once what passes
// a MiB. Before, every replaced array stayed until the thread had deleted 256
// more objects: pushing 2^20 longs held about twice the live array.
TEST(TvectorTest, ReplacedArraysAreFreedAsTheVectorGrows) {
  const optimist::execution_mode mode = optimist::execution_mode_now();
  optimist::set_execution_mode(optimist::execution_mode::stm);
  const long n = 1L << 20;
  const std::size_t live =
      static_cast<std::size_t>(n) * sizeof(optimist::tvar<long>);  // capacity n
  std::size_t held = 0;
  // Twice: the first vector's growth leaves this thread's transaction logs
  // at the size of its largest copy (which reads every element); the second
  // vector's growth then holds only arrays.
  for (int round = 0; round < 2; ++round) {
    const std::size_t before = optimist::test::heap_bytes_in_use();
    optimist::tvector<long> v;
    for (long i = 0; i < n; ++i) v.push_back(i);
    held = optimist::test::heap_bytes_in_use() - before;
    EXPECT_EQ(v.size(), static_cast<std::size_t>(n));
  }
  optimist::set_execution_mode(mode);
  EXPECT_GE(held, live) << "the vector's array is not counted: no test";
  // The live array, the last one replaced (its reader may still be pinned) and slack.
  EXPECT_LE(held, live + live / 2 + (std::size_t{1} << 20))
      << held << " B held for a " << live << " B array";
}
#endif

// Accesses to different elements touch disjoint words; push_back writes the size, which every
// (bounds-checked) element access reads.
TEST(TvectorTest, DifferentElementsDoNotConflict) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("conflicts staged between threads");
  optimist::tvector<long> vector(16, 1);
  using optimist::test::attempts_around;
  EXPECT_EQ(attempts_around([&] { vector[3] += 1; }, [&] { vector[4] += 1; }), 1);
  EXPECT_EQ(attempts_around([&] { (void)vector.at(5); }, [&] { vector.set(6, 9); }), 1);
  EXPECT_EQ(attempts_around([&] { vector[3] += 1; }, [&] { vector[3] += 1; }), 2);
  EXPECT_EQ(attempts_around([&] { (void)vector.get(7); }, [&] { vector.push_back(0); }), 2);
  EXPECT_EQ(vector.get(3), 4);  // 1, +1, then +1 by the other thread and +1 by the re-run
  EXPECT_EQ(vector.size(), 17u);
}

class TvectorConcurrentTest : public ::testing::TestWithParam<int> {};

// Each thread appends its own numbered items: afterwards every item is present
// exactly once and each thread's items appear in the order it pushed them.
TEST_P(TvectorConcurrentTest, ConcurrentPushBackKeepsEveryItemInOrder) {
  const int threads = GetParam();
  const long per_thread = scaled(5000);
  optimist::tvector<long> vector;
  {
    optimist::test::watchdog guard("concurrent push_back");
    run_threads(threads, [&](int index) {
      for (long i = 0; i < per_thread; ++i) vector.push_back(index * 1'000'000'000L + i);
    });
  }
  const std::vector<long> items = vector.snapshot();
  ASSERT_EQ(items.size(), static_cast<std::size_t>(threads * per_thread));
  std::vector<long> next(static_cast<std::size_t>(threads), 0);
  for (long item : items) {
    const auto owner = static_cast<std::size_t>(item / 1'000'000'000L);
    ASSERT_LT(owner, next.size());
    EXPECT_EQ(item % 1'000'000'000L, next[owner]) << "thread " << owner << "'s items out of order";
    next[owner] = item % 1'000'000'000L + 1;
  }
}

// Transfers between random elements while other threads push and pop a tail
// of zeros: the sum over the vector never changes, as every auditor sees.
TEST_P(TvectorConcurrentTest, ElementTransfersConserveSumDuringGrowth) {
  const int threads = GetParam();
  const std::size_t slots = 64;
  const long initial = 100;
  optimist::tvector<long> vector(slots, initial);
  std::atomic<long> bad_audits{0};
  optimist::reset_stats();
  {
    optimist::test::watchdog guard("transfers between tvector elements");
    run_threads(threads, [&](int index) {
      std::mt19937_64 random(static_cast<std::uint64_t>(index) + 41);
      for (long i = 0; i < scaled(10000); ++i) {
        if (i % 50 == 0) {
          optimist::atomically([&] {
            long sum = 0;
            for (long v : vector.snapshot()) sum += v;
            if (sum != static_cast<long>(slots) * initial) bad_audits.fetch_add(1);
          });
        } else if (i % 10 == 0 && index == 0) {
          // Thread 0 also grows and shrinks the vector (zeros only, so the sum holds).
          if (i % 20 == 0) {
            vector.push_back(0);
          } else {
            optimist::atomically([&] {
              if (vector.size() > slots) {
                EXPECT_EQ(vector.pop_back(), 0);
              }
            });
          }
        } else {
          const std::size_t from = random() % slots;
          const std::size_t to = random() % slots;
          optimist::atomically([&] {
            const long amount = vector.get(from) / 4;
            optimist::test::think(5);
            vector[from] -= amount;
            vector[to] += amount;
          });
        }
      }
    });
  }
  std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());
  EXPECT_EQ(bad_audits.load(), 0) << "an auditor saw the sum change";
  long sum = 0;
  for (long v : vector.snapshot()) sum += v;
  EXPECT_EQ(sum, static_cast<long>(slots) * initial);
}

INSTANTIATE_TEST_SUITE_P(Threads, TvectorConcurrentTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace tvector_test
