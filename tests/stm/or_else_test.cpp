// optimist::or_else(f, g): f runs as a nested block; if it retries, its effects
// are rolled back (and only its effects) and g runs in the same transaction;
// if both retry, the enclosing transaction waits on what either read.
//
// Checked on GetParam() threads at once, each on its own variables: the right
// alternative runs and returns; f's writes are invisible to g and never
// commit; writes of the enclosing block before and after the or_else commit;
// exceptions pass through; alternatives nest; a transaction whose
// alternatives both retried wakes through a word only f read and through one
// only g read; and consumers taking from either of two queues with or_else
// get every item exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"
#include "support/white_box.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace or_else_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;
using optimist::test::watchdog;
using namespace std::chrono_literals;

class OrElseTest : public ::testing::TestWithParam<int> {};

TEST_P(OrElseTest, PicksTheFirstAlternativeWhenItDoesNotRetry) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> a{1}, b{0};
    int second_ran = 0;
    long r = optimist::atomically([&] {
      return optimist::or_else(
          [&] {
            b.set(10);
            return a.get();
          },
          [&] {
            ++second_ran;
            return -1L;
          });
    });
    EXPECT_EQ(r, 1);
    EXPECT_EQ(second_ran, 0);
    EXPECT_EQ(b.get(), 10);
  });
}

TEST_P(OrElseTest, RunsTheSecondOnTheStateBeforeTheFirstWhenTheFirstRetries) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> a{0}, b{100}, c{0};
    long g_saw_a = -1, g_saw_b = -1;
    std::string r = optimist::atomically([&] {
      c.set(1);  // the enclosing block's own write, before the or_else
      std::string picked = optimist::or_else(
          [&]() -> std::string {
            a.set(5);  // rolled back with f
            b.set(b.get() - 1);
            c.set(99);
            if (a.get() == 5) optimist::retry();  // a read of its own write...
            return "f";
          },
          [&]() -> std::string {
            g_saw_a = a.get();
            g_saw_b = b.get();
            EXPECT_EQ(c.get(), 1) << "g sees the enclosing block's write, not f's";
            b.set(b.get() + 1);
            return "g";
          });
      c.set(c.get() + 1);  // ... and after it
      return picked;
    });
    EXPECT_EQ(r, "g");
    EXPECT_EQ(g_saw_a, 0);
    EXPECT_EQ(g_saw_b, 100);
    EXPECT_EQ(a.get(), 0);
    EXPECT_EQ(b.get(), 101);
    EXPECT_EQ(c.get(), 2);
  });
}

TEST_P(OrElseTest, RollsBackAllocationsOfTheFirstAlternative) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> flag{0};
    optimist::tvar<long*> slot{nullptr};
    optimist::atomically([&] {
      optimist::or_else(
          [&] {
            slot.set(optimist::tx_new<long>(7));
            if (flag.get() == 0) optimist::retry();
          },
          [&] {});
    });
    EXPECT_EQ(slot.get(), nullptr);
  });
}

TEST_P(OrElseTest, OutsideATransactionItIsABlockOfItsOwn) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> queue{0}, fallback{3};
    long r = optimist::or_else(
        [&] {
          long n = queue.get();
          if (n == 0) optimist::retry();
          queue.set(n - 1);
          return n;
        },
        [&] {
          long n = fallback.get();
          fallback.set(n - 1);
          return 100 + n;
        });
    EXPECT_EQ(r, 103);
    EXPECT_EQ(fallback.get(), 2);
    EXPECT_FALSE(optimist::in_transaction());
  });
}

TEST_P(OrElseTest, AlternativesNest) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> x{0}, y{0}, z{5};
    auto take = [](optimist::tvar<long>& v) {
      long n = v.get();
      if (n == 0) optimist::retry();
      v.set(n - 1);
      return n;
    };
    long r = optimist::or_else(
        [&] { return take(x); },
        [&] { return optimist::or_else([&] { return take(y); }, [&] { return 10 * take(z); }); });
    EXPECT_EQ(r, 50);
    EXPECT_EQ(z.get(), 4);
  });
}

// A first alternative that retries having read nothing (a guard on a local
// flag) hands over to the second, in every mode: only a wait on nothing is
// refused, and no wait happens here. Before, stm and htm refused it with
// std::logic_error while serial mode ran the second alternative.
TEST_P(OrElseTest, AFirstAlternativeThatRetriesHavingReadNothingHandsOverToTheSecond) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> x{7};
    bool have_local_item = false;
    const long r = optimist::atomically([&] {
      return optimist::or_else(
          [&]() -> long {
            if (!have_local_item) optimist::retry();
            return 1;
          },
          [&] { return x.get(); });
    });
    EXPECT_EQ(r, 7);
    // Both alternatives retry having read nothing: refused, as a lone retry is.
    try {
      optimist::atomically([&] {
        return optimist::or_else([]() -> long { optimist::retry(); },
                                 []() -> long { optimist::retry(); });
      });
      ADD_FAILURE() << "a wait on nothing returned";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("read no transactional memory"), std::string::npos)
          << e.what();
    }
  });
}

TEST_P(OrElseTest, AnExceptionFromTheFirstPassesThroughAndSkipsTheSecond) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> a{0};
    int second_ran = 0;
    EXPECT_THROW(optimist::atomically([&] {
                   optimist::or_else(
                       [&] {
                         a.set(1);
                         throw std::runtime_error("f failed");
                       },
                       [&] { ++second_ran; });
                 }),
                 std::runtime_error);
    EXPECT_EQ(second_ran, 0);
    EXPECT_EQ(a.get(), 0);
  });
}

// Both alternatives retry: the transaction sleeps, and a write to what only
// `first` read, or to what only `second` read, wakes it.
void both_retry_then_wake_through(bool first_word, int threads) {
  watchdog guard(first_word ? "or_else woken through f's word" : "or_else woken through g's word");
  // Auto mode runs as stm here: beside other threads its controller may run
  // blocks serially (sampling, or a verdict left by an earlier test in this
  // process), and then a serial attempt's hand-over or a give-way adds
  // attempts at any point, so no bound on them would hold. Auto's hand-over
  // of a retry is covered by tests/stm/give_way_test.cpp and auto_mode_test.cpp.
  // Serial mode has give-ways too: a setter's standalone write, or another
  // thread's software attempt, that waits at the gate for a serial block whose
  // thread lost its core (2 * threads threads here) takes the block over, and
  // the block runs once more. Each give-way adds at most one attempt (counted
  // in stats(), checked below); without one the bound is exact.
  const optimist::test::speculation_pin pin;
  optimist::reset_stats();
  std::vector<optimist::tvar<long>> f_word(static_cast<std::size_t>(threads)),
      g_word(f_word.size());
  std::vector<std::atomic<int>> attempts(f_word.size());
  // Each waiter's retries that waited (optimist::test::this_thread_retries) and their number
  // before its block.
  std::vector<std::atomic<const std::atomic<std::uint64_t>*>> retries(f_word.size());
  std::vector<std::uint64_t> retries_before(f_word.size());
  run_threads(2 * threads, [&](int index) {
    if (index >= threads) {
      auto u = static_cast<std::size_t>(index - threads);
      // Once the block has retried in software: it waits, or is about to and finds the word
      // written; the write wakes it.
      while (retries[u].load() == nullptr || retries[u].load()->load() == retries_before[u]) {
        std::this_thread::sleep_for(1ms);
      }
      (first_word ? f_word[u] : g_word[u]).set(1);
      return;
    }
    auto u = static_cast<std::size_t>(index);
    const std::atomic<std::uint64_t>& mine = optimist::test::this_thread_retries();
    retries_before[u] = mine.load();
    retries[u].store(&mine);
    std::string r = optimist::atomically([&] {
      attempts[u].fetch_add(1);
      return optimist::or_else(
          [&]() -> std::string {
            if (f_word[u].get() == 0) optimist::retry();
            return "f";
          },
          [&]() -> std::string {
            if (g_word[u].get() == 0) optimist::retry();
            return "g";
          });
    });
    EXPECT_EQ(r, first_word ? "f" : "g");
  });
  for (std::size_t u = 0; u < retries.size(); ++u) {
    EXPECT_GT(retries[u].load()->load(), retries_before[u]) << "waiter " << u << " never waited";
  }
  // Serial mode: the serial attempt that retried hands over to a software one, which sleeps.
  const int handed_over = optimist::test::serial_mode_on() ? 1 : 0;
  const auto give_ways = static_cast<int>(optimist::stats().serial_give_ways);
  for (const std::atomic<int>& a : attempts) {
    EXPECT_GE(a.load(), 2 + handed_over) << "slept, woke once, succeeded";
    EXPECT_LE(a.load(), 2 + handed_over + give_ways)
        << "slept, woke once, succeeded (" << give_ways << " give-ways)";
  }
}

TEST_P(OrElseTest, BothRetryAndAWriteToWhatOnlyTheFirstReadWakesIt) {
  both_retry_then_wake_through(true, GetParam());
}

TEST_P(OrElseTest, BothRetryAndAWriteToWhatOnlyTheSecondReadWakesIt) {
  both_retry_then_wake_through(false, GetParam());
}

// Two queues (counters of items numbered per queue); consumers take from
// whichever has an item, producers fill both. Every item is taken once.
TEST_P(OrElseTest, ConsumersOfTwoQueuesTakeEveryItemOnce) {
  watchdog guard("consumers taking from either of two queues");
  const int pairs = GetParam();
  const long per_producer = scaled(2000);
  const long total = pairs * per_producer;
  // Queue q holds the items [taken[q], added[q]) of its own numbering.
  optimist::tvar<long> added[2], taken[2];
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(2 * total));
  run_threads(2 * pairs, [&](int index) {
    if (index < pairs) {
      for (long i = 0; i < per_producer; ++i) {
        int q = static_cast<int>(i % 2);
        optimist::atomically([&] { added[q].set(added[q].get() + 1); });
      }
      return;
    }
    auto take_from = [&](int q) {
      long t = taken[q].get();
      if (t == added[q].get()) optimist::retry();
      taken[q].set(t + 1);
      return q * total + t;
    };
    for (long i = 0; i < per_producer; ++i) {
      long item = optimist::or_else([&] { return take_from(0); }, [&] { return take_from(1); });
      ASSERT_GE(item, 0);
      ASSERT_LT(item, 2 * total);
      seen[static_cast<std::size_t>(item)].fetch_add(1);
    }
  });
  long consumed = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_LE(seen[i].load(), 1) << "item " << i << " taken twice";
    consumed += seen[i].load();
  }
  EXPECT_EQ(consumed, total);
  EXPECT_EQ(taken[0].get(), added[0].get());
  EXPECT_EQ(taken[1].get(), added[1].get());
}

INSTANTIATE_TEST_SUITE_P(Threads, OrElseTest, ::testing::Values(1, 2, 4));

// A destructor in the first alternative asks for inevitability while its retry() unwinds it: the
// attempt is lost there, so it must not count as inevitable. It did, and once or_else absorbed
// the retry the second alternative's retry() was refused ("called after become_inevitable()").
struct inevitable_when_destroyed {
  ~inevitable_when_destroyed() { optimist::become_inevitable(); }
};

TEST(OrElseInevitable, ADestructorOfARetryingFirstAlternativeDoesNotRefuseTheSecondsRetry) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("another thread commits while the block waits");
  optimist::test::watchdog guard(
      "or_else whose first alternative's destructor asks to be inevitable");
  optimist::tvar<long> first{0}, second{0};
  std::atomic<int> second_retried{0};
  std::thread producer([&] {
    // Once the second alternative has called retry() (refused, it throws; accepted, the block
    // waits, or is about to and finds `second` written).
    while (second_retried.load() == 0) std::this_thread::sleep_for(1ms);
    optimist::atomically([&] { second.set(1); });
  });
  long got = 0;
  EXPECT_NO_THROW(got = optimist::atomically([&] {
                    return optimist::or_else(
                        [&] {
                          inevitable_when_destroyed g;
                          if (first.get() == 0) optimist::retry();
                          return 1L;
                        },
                        [&] {
                          if (second.get() == 0) {
                            second_retried.fetch_add(1);
                            optimist::retry();
                          }
                          return 2L;
                        });
                  }));
  producer.join();
  EXPECT_EQ(got, 2);
  EXPECT_GE(second_retried.load(), 1) << "the second alternative never retried";
}

}  // namespace

}  // namespace or_else_test
