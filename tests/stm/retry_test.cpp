// optimist::retry(): a transaction that cannot proceed is rolled back and its
// thread sleeps until a commit changes something it read.
//
// Checked: producers and consumers on a bounded buffer move every item exactly
// once; a blocked consumer wakes on a transactional commit, a single store
// outside a transaction and an inevitable commit, and uses almost no CPU while
// it waits; a retry inside a nested block rolls back the whole transaction;
// an engine-made irrevocable (starved) transaction can retry and gives the
// inevitability token back while it waits; misuse (outside a transaction,
// nothing read, after become_inevitable) is a std::logic_error naming the
// call site.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "stm/contention_manager.hpp"
#include "stm/thread_registry.hpp"
#include "support/cpu_time.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace retry_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;
using optimist::test::thread_cpu_seconds;
using optimist::test::watchdog;
using namespace std::chrono_literals;

// Spins (yielding) until at least `count` retries have been counted since the
// last reset_stats(): the waiting thread has rolled back and is about to park.
void wait_for_retries(std::uint64_t count) {
  while (optimist::stats().retries < count) std::this_thread::sleep_for(1ms);
}

// A ring buffer of tvars: put() blocks while full, take() while empty.
template <std::size_t Capacity>
class bounded_buffer {
 public:
  void put(long item) {
    optimist::atomically([&] {
      long n = size_.get();
      if (n == static_cast<long>(Capacity)) optimist::retry();
      slots_[static_cast<std::size_t>(head_.get() + n) % Capacity].set(item);
      size_.set(n + 1);
    });
  }
  long take() {
    return optimist::atomically([&] {
      long n = size_.get();
      if (n == 0) optimist::retry();
      long h = head_.get();
      long item = slots_[static_cast<std::size_t>(h)].get();
      head_.set((h + 1) % static_cast<long>(Capacity));
      size_.set(n - 1);
      return item;
    });
  }

 private:
  optimist::tvar<long> head_{0}, size_{0};
  optimist::tvar<long> slots_[Capacity];
};

class RetryTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { optimist::reset_stats(); }
};

TEST_P(RetryTest, ProducersAndConsumersMoveEveryItemExactlyOnce) {
  watchdog guard("producers and consumers on a bounded buffer of 4");
  const int pairs = GetParam();
  const long per_producer = scaled(3000);
  bounded_buffer<4> buffer;
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(pairs * per_producer));
  run_threads(2 * pairs, [&](int index) {
    if (index < pairs) {
      for (long i = 0; i < per_producer; ++i) buffer.put(index * per_producer + i);
      return;
    }
    for (long i = 0; i < per_producer; ++i) {
      long item = buffer.take();
      ASSERT_GE(item, 0);
      ASSERT_LT(item, pairs * per_producer);
      seen[static_cast<std::size_t>(item)].fetch_add(1);
    }
  });
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i].load(), 1) << "item " << i;
  }
  EXPECT_GT(optimist::stats().retries, 0u)
      << "a buffer of 4 between producers and consumers never blocked anyone";
}

enum class wake_by { commit, single_store, inevitable_commit };

// `waiters` threads block on an empty flag; the main thread lets them wait
// about 200 ms, then writes the flag in the given way. Every waiter must wake
// with the value written, and must have spent little CPU time asleep.
void blocked_waiters_wake(int waiters, wake_by how) {
  watchdog guard("consumers blocked on an empty flag");
  optimist::tvar<long> flag{0};
  optimist::tvar<long> unrelated{0};
  std::vector<double> cpu(static_cast<std::size_t>(waiters)), wall(cpu.size());
  std::vector<long> got(cpu.size(), -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < waiters; ++i) {
    threads.emplace_back([&, i] {
      auto u = static_cast<std::size_t>(i);
      auto t0 = std::chrono::steady_clock::now();
      double c0 = thread_cpu_seconds();
      got[u] = optimist::atomically([&] {
        long v = flag.get();
        if (v == 0) optimist::retry();
        return v;
      });
      cpu[u] = thread_cpu_seconds() - c0;
      wall[u] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  }
  wait_for_retries(static_cast<std::uint64_t>(waiters));
  std::this_thread::sleep_for(200ms);
  // A commit to a word nobody waits on wakes nobody (the waiters stay asleep).
  optimist::atomically([&] { unrelated.set(unrelated.get() + 1); });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(optimist::stats().retries, static_cast<std::uint64_t>(waiters))
      << "a commit to an unrelated word woke a waiter";
  switch (how) {
    case wake_by::commit:
      optimist::atomically([&] { flag.set(42); });
      break;
    case wake_by::single_store:
      flag.set(42);
      break;
    case wake_by::inevitable_commit:
      optimist::atomically([&] {
        optimist::become_inevitable();
        flag.set(42);
      });
      break;
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], 42) << "waiter " << i;
    EXPECT_GE(wall[i], 0.2) << "waiter " << i << " did not wait";
    // A resource check, not a speed claim: asleep, not spinning.
    EXPECT_LT(cpu[i], 0.25 * wall[i])
        << "waiter " << i << " used " << cpu[i] << " s of CPU in " << wall[i] << " s of waiting";
  }
}

TEST_P(RetryTest, BlockedConsumersWakeOnACommitAndSleepMeanwhile) {
  blocked_waiters_wake(GetParam(), wake_by::commit);
}

TEST_P(RetryTest, BlockedConsumersWakeOnAStoreOutsideTransactions) {
  blocked_waiters_wake(GetParam(), wake_by::single_store);
}

TEST_P(RetryTest, BlockedConsumersWakeOnAnInevitableCommit) {
  blocked_waiters_wake(GetParam(), wake_by::inevitable_commit);
}

TEST_P(RetryTest, WakesOnAWriteToAnyWordItRead) {
  watchdog guard("a waiter on three words woken through the last");
  const int threads = GetParam();
  std::vector<optimist::tvar<long>> a(static_cast<std::size_t>(threads)), b(a.size()), c(a.size());
  std::vector<std::atomic<int>> tried(a.size());
  run_threads(2 * threads, [&](int index) {
    if (index >= threads) {
      auto u = static_cast<std::size_t>(index - threads);
      while (tried[u].load() == 0) std::this_thread::sleep_for(1ms);
      std::this_thread::sleep_for(20ms);
      c[u].set(7);  // only the last word read changes
      return;
    }
    auto u = static_cast<std::size_t>(index);
    long sum = optimist::atomically([&] {
      long s = a[u].get() + b[u].get() + c[u].get();
      if (s == 0) {
        tried[u].fetch_add(1);
        optimist::retry();
      }
      return s;
    });
    EXPECT_EQ(sum, 7);
  });
}

TEST_P(RetryTest, RetryInANestedBlockRollsBackTheWholeTransaction) {
  watchdog guard("a retry two blocks deep");
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> outer_write{0}, inner_write{0}, flag{0};
    std::atomic<int> attempts{0};
    std::thread waker([&] {
      while (attempts.load() == 0) std::this_thread::sleep_for(1ms);
      std::this_thread::sleep_for(20ms);
      // While the transaction waits, none of its writes is visible.
      EXPECT_EQ(outer_write.get(), 0);
      EXPECT_EQ(inner_write.get(), 0);
      flag.set(1);
    });
    optimist::atomically([&] {
      outer_write.set(outer_write.get() + 1);
      optimist::atomically([&] {
        inner_write.set(inner_write.get() + 1);
        if (flag.get() == 0) {
          attempts.fetch_add(1);
          optimist::retry();
        }
      });
    });
    waker.join();
    EXPECT_EQ(outer_write.get(), 1);
    EXPECT_EQ(inner_write.get(), 1);
    EXPECT_GE(attempts.load(), 1);
  });
}

TEST_P(RetryTest, ASwallowedRetryStillRollsBackAndWaits) {
  watchdog guard("a retry caught by user code");
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> written{0}, flag{0};
    std::atomic<int> waits{0};
    std::thread waker([&] {
      while (waits.load() == 0) std::this_thread::sleep_for(1ms);
      std::this_thread::sleep_for(10ms);
      flag.set(1);
    });
    optimist::atomically([&] {
      written.set(written.get() + 1);
      try {
        if (flag.get() == 0) {
          waits.fetch_add(1);
          optimist::retry();
        }
      } catch (...) {
        // Swallowed: the attempt is doomed all the same; the next access restarts it.
      }
      written.set(written.get() + 1);
    });
    waker.join();
    EXPECT_EQ(written.get(), 2);
  });
}

TEST(RetryMisuse, OutsideATransactionIsALogicError) {
  try {
    optimist::retry();
    FAIL() << "retry() outside a transaction returned";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("outside an atomic block"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("retry_test.cpp"), std::string::npos) << e.what();
  }
}

TEST(RetryMisuse, NothingReadIsALogicErrorAndRollsBack) {
  optimist::tvar<long> written{0};
  try {
    optimist::atomically([&] {
      written.set(5);  // a write is not a read: nothing could wake the wait
      optimist::retry();
    });
    FAIL() << "retry() with nothing read returned";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("read no transactional memory"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("retry_test.cpp"), std::string::npos) << e.what();
  }
  EXPECT_EQ(written.get(), 0);
  EXPECT_FALSE(optimist::in_transaction());
}

TEST(RetryMisuse, AfterBecomeInevitableIsALogicErrorAndGivesTheTokenBack) {
  watchdog guard("retry after become_inevitable");
  optimist::tvar<long> flag{0}, written{0};
  try {
    optimist::atomically([&] {
      long v = flag.get();
      optimist::become_inevitable();
      written.set(1);
      if (v == 0) optimist::retry();
    });
    FAIL() << "retry() in an inevitable transaction returned";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("after become_inevitable()"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(written.get(), 0);
  // The token is free again: another thread can become inevitable (else the watchdog fires).
  std::thread([&] {
    optimist::atomically([&] {
      optimist::become_inevitable();
      written.set(2);
    });
  }).join();
  EXPECT_EQ(written.get(), 2);
}

// A transaction the engine made irrevocable has done nothing irreversible:
// it may retry. It must give the inevitability token back while it waits.
TEST(RetryIrrevocable, AStarvedTransactionRetriesAndReleasesTheToken) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("starvation and the irrevocable fallback");
  watchdog guard("a starved transaction that retries");
  optimist::reset_stats();
  optimist::tvar<long> flag{0}, other{0};
  std::atomic<int> attempts{0};
  std::thread waiter([&] {
    // White box: this thread has "lost" max_restarts times in a row, so its
    // next attempt starts irrevocable.
    optimist::detail::this_thread_transaction().consecutive_aborts = optimist::detail::max_restarts;
    long v = optimist::atomically([&] {
      attempts.fetch_add(1);
      long f = flag.get();
      if (f == 0) optimist::retry();
      return f;
    });
    EXPECT_EQ(v, 3);
  });
  wait_for_retries(1);
  EXPECT_EQ(optimist::stats().starved, 1u);
  // Another transaction can become inevitable while the starved one waits.
  optimist::atomically([&] {
    optimist::become_inevitable();
    other.set(1);
  });
  flag.set(3);
  waiter.join();
  EXPECT_EQ(attempts.load(), 2);
  EXPECT_EQ(optimist::stats().retries, 1u);
}

// Becoming inevitable after reading a word that has since changed re-runs the
// block irrevocably from its start, before it asks again: a retry() there is
// still allowed (nothing irreversible has happened in that attempt).
TEST(RetryIrrevocable, ARetryBeforeBecomingInevitableAgainIsAllowed) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("a conflict staged by another thread inside the block");
  watchdog guard("a retry in the irrevocable re-run");
  optimist::tvar<long> x{0}, flag{0}, out{0};
  std::atomic<int> attempts{0};
  std::thread waiter([&] {
    optimist::atomically([&] {
      int attempt = attempts.fetch_add(1) + 1;
      long seen = x.get();
      if (attempt == 1) std::thread([&] { x.set(seen + 1); }).join();  // invalidates the read
      if (attempt == 2 && flag.get() == 0) optimist::retry();
      optimist::become_inevitable();
      out.set(seen + flag.get());
    });
  });
  while (attempts.load() < 2) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  optimist::atomically([&] {  // the token is free
    optimist::become_inevitable();
    flag.set(10);
  });
  waiter.join();
  EXPECT_EQ(attempts.load(), 3);
  EXPECT_EQ(out.get(), 11);
}

INSTANTIATE_TEST_SUITE_P(Threads, RetryTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace retry_test
