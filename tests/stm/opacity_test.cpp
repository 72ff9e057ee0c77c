// Opacity: no attempt — not even one that is later rolled back — ever acts on
// a state that no serial execution produces.
//
// Writers keep an invariant between two words by changing both in one
// transaction; readers check the invariant *inside* their transaction right
// after reading both words and count every violation in an atomic (an
// increment that survives the rollback of the attempt that made it). A
// weaker STM that only validates at commit (no read validation) fails these
// tests at once: the torn attempt would abort later, but it has already acted.
//
// The second kind of test makes a torn read *misbehave*: the difference of
// the two words indexes a two-element array and divides a number, so a torn
// snapshot is an out-of-bounds access (ASan) or a division by zero (SIGFPE,
// UBSan), not just a wrong number.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/optimist.hpp"
#include "support/describe_stats.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace opacity_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

// Two words far apart in memory (different cache lines, pages and orecs), as
// plain longs reached through optimist::load / optimist::store.
struct far_apart_words {
  static constexpr std::size_t distance = 4096;  // words: 32 KiB apart
  far_apart_words() : storage(std::make_unique<long[]>(distance + 1)) {}
  long& x() { return storage[0]; }
  long& y() { return storage[distance]; }
  std::unique_ptr<long[]> storage;
};

// The threads' roles: thread i writes on every `writer_period`-th operation
// (thread 0 more often, so that a run with one thread also writes) and reads
// otherwise; half the readers read the words in the opposite order.
bool is_write_turn(int thread, long op) {
  const long writer_period = thread == 0 ? 2 : 4;
  return op % writer_period == 0;
}

class OpacityTest : public ::testing::TestWithParam<int> {};

TEST_P(OpacityTest, ReadersNeverSeeHalfAnUpdateOfTwoTvars) {
  const int threads = GetParam();
  const long operations = scaled(40000);
  optimist::tvar<long> x{0};
  optimist::tvar<long> y{0};
  std::atomic<long> violations{0};
  std::atomic<long> attempts{0};

  optimist::reset_stats();
  {
    optimist::test::watchdog guard("checking x == y across concurrent increments");
    run_threads(threads, [&](int index) {
      for (long op = 0; op < operations; ++op) {
        if (is_write_turn(index, op)) {
          optimist::atomically([&] {
            x.set(x.get() + 1);
            y.set(y.get() + 1);
          });
        } else if (index % 2 == 0) {
          optimist::atomically([&] {
            attempts.fetch_add(1, std::memory_order_relaxed);
            long a = x.get();
            optimist::test::think(20);  // writers commit in between
            long b = y.get();
            if (a != b) violations.fetch_add(1);
          });
        } else {
          optimist::atomically([&] {
            attempts.fetch_add(1, std::memory_order_relaxed);
            long b = y.get();
            optimist::test::think(20);
            long a = x.get();
            if (a != b) violations.fetch_add(1);
          });
        }
      }
    });
  }
  std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());
  EXPECT_EQ(violations.load(), 0) << "of " << attempts.load()
                                  << " reader attempts, some saw x != y";
  EXPECT_EQ(x.get(), y.get());
  EXPECT_GT(x.get(), 0);
}

TEST_P(OpacityTest, ReadersNeverSeeHalfAnUpdateOfTwoFarApartWords) {
  const int threads = GetParam();
  const long operations = scaled(40000);
  far_apart_words words;
  std::atomic<long> violations{0};
  std::atomic<long> total_writes{0};

  {
    optimist::test::watchdog guard("checking x == y on words 32 KiB apart");
    run_threads(threads, [&](int index) {
      long my_writes = 0;
      for (long op = 0; op < operations; ++op) {
        if (is_write_turn(index, op)) {
          optimist::atomically([&] {
            optimist::store(words.x(), optimist::load(words.x()) + 1);
            optimist::store(words.y(), optimist::load(words.y()) + 1);
          });
          ++my_writes;
        } else {
          optimist::atomically([&] {
            long a = index % 2 == 0 ? optimist::load(words.x()) : optimist::load(words.y());
            optimist::test::think(20);
            long b = index % 2 == 0 ? optimist::load(words.y()) : optimist::load(words.x());
            if (a != b) violations.fetch_add(1);
          });
        }
      }
      total_writes.fetch_add(my_writes);
    });
  }
  const long writes = total_writes.load();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(optimist::load(words.x()), writes);
  EXPECT_EQ(optimist::load(words.y()), writes);
}

// A reader that also writes (so it must validate at commit) and reads the
// pair twice, with other words in between: the two readings must agree with
// each other, not only each with itself.
TEST_P(OpacityTest, RepeatedReadsInOneAttemptAgree) {
  const int threads = GetParam();
  const long operations = scaled(20000);
  optimist::tvar<long> x{0};
  optimist::tvar<long> y{0};
  std::vector<std::unique_ptr<optimist::tvar<long>>> scratch;
  for (int i = 0; i < 4; ++i) scratch.push_back(std::make_unique<optimist::tvar<long>>(0));
  std::atomic<long> violations{0};

  {
    optimist::test::watchdog guard("reading x and y twice per attempt");
    run_threads(threads, [&](int index) {
      for (long op = 0; op < operations; ++op) {
        if (is_write_turn(index, op)) {
          optimist::atomically([&] {
            x.set(x.get() + 1);
            y.set(y.get() + 1);
          });
        } else {
          optimist::atomically([&] {
            long first = x.get();
            optimist::tvar<long>& mine = *scratch[static_cast<std::size_t>(index)];
            mine.set(mine.get() + 1);
            optimist::test::think(10);
            long second = y.get();
            optimist::test::think(10);
            long third = x.get();
            if (first != second || second != third) violations.fetch_add(1);
          });
        }
      }
    });
  }
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(x.get(), y.get());
}

// Blind writers (they read nothing, so nothing makes them raise the clock)
// commit back to back to the same four words, so that consecutive commits can
// share a commit stamp; readers keep extending their snapshots over exactly
// those words. A reader that accepted a word of one commit and then, at the
// same version, the other words of the next commit would see them torn.
TEST_P(OpacityTest, CommitsSharingAStampNeverTearAReader) {
  struct quad {
    long v[4];
  };
  const int threads = GetParam();
  const long operations = scaled(30000);
  optimist::tvar<quad> q{quad{{0, 0, 0, 0}}};
  std::atomic<long> torn{0};
  {
    optimist::test::watchdog guard("blind writers and readers on one four-word tvar");
    run_threads(threads, [&](int index) {
      const bool reader = threads == 1 ? false : index == 0;
      for (long i = 0; i < operations; ++i) {
        if (reader || (threads == 1 && i % 2 == 1)) {
          const quad seen = optimist::atomically([&] { return q.get(); });
          if (seen.v[0] != seen.v[1] || seen.v[1] != seen.v[2] || seen.v[2] != seen.v[3]) {
            torn.fetch_add(1);
          }
        } else {
          const long value = i * 8 + index;
          q.set(quad{{value, value, value, value}});  // a transaction of its own
        }
      }
    });
  }
  EXPECT_EQ(torn.load(), 0) << "a reader saw the words of two different commits";
}

// Invariant y == x + 1. A torn snapshot gives y - x == 0 (a division by zero)
// or y - x == 2 (one past the end of a two-element heap array): the test
// does both unguarded, so a broken STM crashes it (or ASan / UBSan report it)
// instead of merely producing a number. The violation counter is for the
// message when the crash does not happen.
TEST_P(OpacityTest, DoomedAttemptNeverDividesByZeroOrIndexesOutOfBounds) {
  const int threads = GetParam();
  const long operations = scaled(40000);
  optimist::tvar<long> x{0};
  optimist::tvar<long> y{1};
  far_apart_words plain;
  plain.x() = 0;
  plain.y() = 1;
  // On the heap, exactly two elements: ASan sees table[2].
  std::unique_ptr<long[]> table(new long[2]{1000, 2000});
  std::atomic<long> violations{0};
  std::atomic<long> checksum{0};

  {
    optimist::test::watchdog guard("using y - x as an index and a divisor");
    run_threads(threads, [&](int index) {
      long local = 0;
      for (long op = 0; op < operations; ++op) {
        if (is_write_turn(index, op)) {
          optimist::atomically([&] {
            // Two separate steps, so that the words differ by 0 or 2 in between.
            x.set(x.get() + 1);
            y.set(y.get() + 1);
            optimist::store(plain.y(), optimist::load(plain.y()) + 1);
            optimist::store(plain.x(), optimist::load(plain.x()) + 1);
          });
        } else {
          local += optimist::atomically([&] {
            const long new_y = y.get();
            optimist::test::think(30);
            long dx = new_y - x.get();
            const long new_plain_y = optimist::load(plain.y());
            optimist::test::think(30);
            long dp = new_plain_y - optimist::load(plain.x());
            if (dx != 1 || dp != 1) violations.fetch_add(1);
            // Deliberately unguarded: this is what misbehaves if opacity breaks.
            return table[dx] / dx + table[dp] / dp;
          });
        }
      }
      checksum.fetch_add(local);
    });
  }
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(y.get() - x.get(), 1);
  EXPECT_EQ(optimist::load(plain.y()) - optimist::load(plain.x()), 1);
  EXPECT_EQ(checksum.load() % 4000, 0) << "every read-only attempt returns 2000 + 2000";
}

// Pointer chasing: a tvar<long*> and a tvar<long> length describe a heap
// array that writers replace (new array, new length) in one transaction; a
// reader walks `length` elements of `array`. A torn read walks off the end of
// the smaller array (ASan). Old arrays are retired with tx_delete, so a reader
// that still walks one never sees it freed.
struct counted_array {
  explicit counted_array(long n) : size(n), data(new long[static_cast<std::size_t>(n)]) {
    for (long i = 0; i < n; ++i) data[i] = n;
  }
  ~counted_array() { delete[] data; }
  counted_array(const counted_array&) = delete;
  counted_array& operator=(const counted_array&) = delete;
  long size;
  long* data;
};

TEST_P(OpacityTest, DoomedAttemptNeverWalksPastTheEndOfAReplacedArray) {
  const int threads = GetParam();
  const long operations = scaled(20000);
  optimist::tvar<long*> array{nullptr};
  optimist::tvar<long> length{0};
  optimist::tvar<counted_array*> owner{nullptr};
  {
    auto* first = new counted_array(1);
    owner.set(first);
    array.set(first->data);
    length.set(1);
  }
  std::atomic<long> violations{0};

  {
    optimist::test::watchdog guard("walking arrays that writers replace");
    run_threads(threads, [&](int index) {
      for (long op = 0; op < operations; ++op) {
        if (is_write_turn(index, op)) {
          const long next_size = 1 + (op * 7 + index) % 16;
          optimist::atomically([&] {
            counted_array* old = owner.get();
            auto* fresh = optimist::tx_new<counted_array>(next_size);
            owner.set(fresh);
            array.set(fresh->data);
            length.set(fresh->size);
            optimist::tx_delete(old);
          });
        } else {
          optimist::atomically([&] {
            long* data = array.get();
            optimist::test::think(30);
            long n = length.get();
            long sum = 0;
            for (long i = 0; i < n; ++i) sum += data[i];  // plain reads: never rewritten
            if (sum != n * n) violations.fetch_add(1);
          });
        }
      }
    });
  }
  EXPECT_EQ(violations.load(), 0);
  optimist::atomically([&] { optimist::tx_delete(owner.get()); });
  optimist::detail::reclaim_now();  // the threads have ended: everything retired goes
}

INSTANTIATE_TEST_SUITE_P(Threads, OpacityTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace opacity_test
