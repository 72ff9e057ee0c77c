// optimist::retry_until(deadline): retry(), but the wait ends at the deadline
// at the latest, and from then on the call returns and the block goes on.
//
// Checked, at several thread counts: waiters on words nobody writes time out
// (each returns only once its deadline has passed) and sleep meanwhile; a
// commit before the deadline wakes them with the new value; a deadline that
// has passed returns at once without a wait; or_else waits for the earlier
// deadline of an alternative it absorbed, and its second alternative still
// wakes on a commit; a block that read nothing sleeps until its deadline;
// misuse (outside a block, after become_inevitable) is a std::logic_error
// naming the call, checked only while the deadline lies ahead inside a block.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/optimist.hpp"
#include "stm/retry_wait.hpp"
#include "support/cpu_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace retry_until_test {

namespace {

using optimist::test::run_threads;
using optimist::test::thread_cpu_seconds;
using optimist::test::watchdog;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

void wait_for_retries(std::uint64_t count) {
  while (optimist::stats().retries < count) std::this_thread::sleep_for(1ms);
}

// What one waiter saw: the value it returned, its deadline, whether that had
// passed when its block ended, how many attempts, and its CPU and wall time.
struct waited {
  std::optional<long> value;
  steady::time_point deadline{};
  bool after_deadline = false;
  int attempts = 0;
  double cpu = 0;
  double wall = 0;
};

// Waits for `flag` to be nonzero, up to a deadline `timeout` after its first
// attempt (kept across re-runs: it lies ahead when the block first retries,
// however late its thread starts).
waited wait_for_flag(optimist::tvar<long>& flag, steady::duration timeout) {
  waited w;
  const auto t0 = steady::now();
  const double c0 = thread_cpu_seconds();
  w.value = optimist::atomically([&]() -> std::optional<long> {
    if (++w.attempts == 1) w.deadline = steady::now() + timeout;
    const long v = flag.get();
    if (v == 0) {
      optimist::retry_until(w.deadline);
      return std::nullopt;
    }
    return v;
  });
  w.after_deadline = steady::now() >= w.deadline;
  w.cpu = thread_cpu_seconds() - c0;
  w.wall = std::chrono::duration<double>(steady::now() - t0).count();
  return w;
}

class RetryUntilTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { optimist::reset_stats(); }
};

// A deadline past 2^63 ns (a C program's UINT64_MAX for "for ever",
// optimist_tx_retry_until) sleeps, and long. Before, the time left became a
// negative count of nanoseconds: a block that read nothing returned from each
// sleep at once and spun at 100 % CPU for ever.
TEST(RetryUntilDeadline, AFarDeadlineSleepsAndLong) {
  using optimist::detail::sleep_before_deadline;
  const std::uint64_t now = optimist::detail::steady_now_ns();
  EXPECT_GT(sleep_before_deadline(UINT64_MAX, now), std::chrono::hours(24 * 365));
  EXPECT_GT(sleep_before_deadline(now + (std::uint64_t{1} << 63) + 5, now),
            std::chrono::hours(24 * 365));
  EXPECT_EQ(sleep_before_deadline(now + 1000, now), std::chrono::nanoseconds(1000));
  EXPECT_EQ(sleep_before_deadline(now, now + 5), std::chrono::nanoseconds(0));
}

TEST_P(RetryUntilTest, WaitersOnWordsNobodyWritesTimeOutAndSleep) {
  watchdog guard("waiters that should time out after 150 ms", 60s);
  const int threads = GetParam();
  std::vector<optimist::tvar<long>> flags(static_cast<std::size_t>(threads));
  std::vector<waited> seen(flags.size());
  run_threads(threads, [&](int index) {
    const auto u = static_cast<std::size_t>(index);
    seen[u] = wait_for_flag(flags[u], 150ms);
  });
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_FALSE(seen[i].value.has_value()) << "waiter " << i;
    EXPECT_TRUE(seen[i].after_deadline) << "waiter " << i << " returned before its deadline";
    EXPECT_GE(seen[i].attempts, 2) << "waiter " << i << " never waited";
    // A resource check, not a speed claim: asleep, not spinning.
    EXPECT_LT(seen[i].cpu, 0.25 * seen[i].wall)
        << "waiter " << i << " used " << seen[i].cpu << " s of CPU in " << seen[i].wall << " s";
  }
  EXPECT_GE(optimist::stats().retries, static_cast<std::uint64_t>(threads));
}

TEST_P(RetryUntilTest, ACommitBeforeTheDeadlineWakesTheWaiters) {
  watchdog guard("waiters woken by a commit long before their deadline", 60s);
  const int threads = GetParam();
  optimist::tvar<long> flag{0};
  std::vector<waited> seen(static_cast<std::size_t>(threads));
  const auto timeout = 30s;  // the watchdog fires first if the commit is lost
  run_threads(threads + 1, [&](int index) {
    if (index == threads) {
      wait_for_retries(static_cast<std::uint64_t>(threads));
      std::this_thread::sleep_for(20ms);
      optimist::atomically([&] { flag.set(42); });
      return;
    }
    seen[static_cast<std::size_t>(index)] = wait_for_flag(flag, timeout);
  });
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].value, std::optional<long>(42)) << "waiter " << i;
    EXPECT_FALSE(seen[i].after_deadline) << "waiter " << i << " was woken by its deadline";
  }
}

TEST_P(RetryUntilTest, ADeadlineThatHasPassedReturnsWithoutWaiting) {
  const int threads = GetParam();
  std::vector<optimist::tvar<long>> flags(static_cast<std::size_t>(threads));
  std::vector<waited> seen(flags.size());
  run_threads(threads, [&](int index) {
    const auto u = static_cast<std::size_t>(index);
    seen[u] = wait_for_flag(flags[u], -1ms);
  });
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_FALSE(seen[i].value.has_value()) << "waiter " << i;
    EXPECT_EQ(seen[i].attempts, 1) << "waiter " << i;
  }
  EXPECT_EQ(optimist::stats().retries, 0u);
}

// f waits for `a` up to a deadline, g for `b` with no deadline: at f's
// deadline f returns, so the block must wake then although g still retries.
TEST_P(RetryUntilTest, OrElseWakesAtTheDeadlineOfTheAlternativeItAbsorbed) {
  watchdog guard("or_else whose first alternative times out", 60s);
  const int threads = GetParam();
  std::vector<optimist::tvar<long>> a(static_cast<std::size_t>(threads)), b(a.size());
  std::vector<long> got(a.size(), -1);
  std::vector<char> after(a.size(), 0);
  const auto deadline = steady::now() + 100ms;
  run_threads(threads, [&](int index) {
    const auto u = static_cast<std::size_t>(index);
    got[u] = optimist::or_else(
        [&] {
          if (a[u].get() == 0) optimist::retry_until(deadline);
          return 1L;
        },
        [&] {
          if (b[u].get() == 0) optimist::retry();
          return 2L;
        });
    after[u] = steady::now() >= deadline;
  });
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], 1) << "thread " << i;
    EXPECT_TRUE(after[i]) << "thread " << i;
  }
}

TEST_P(RetryUntilTest, OrElseSecondAlternativeStillWakesOnACommit) {
  watchdog guard("or_else whose second alternative is woken by a commit", 60s);
  const int threads = GetParam();
  optimist::tvar<long> a{0}, b{0};
  std::vector<long> got(static_cast<std::size_t>(threads), -1);
  const auto deadline = steady::now() + 30s;
  run_threads(threads + 1, [&](int index) {
    if (index == threads) {
      wait_for_retries(static_cast<std::uint64_t>(threads));
      std::this_thread::sleep_for(20ms);
      b.set(5);
      return;
    }
    got[static_cast<std::size_t>(index)] = optimist::or_else(
        [&] {
          if (a.get() == 0) optimist::retry_until(deadline);
          return 1L;
        },
        [&] {
          const long v = b.get();
          if (v == 0) optimist::retry();
          return v;
        });
  });
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], 5) << "thread " << i;
  EXPECT_LT(steady::now(), deadline);
}

TEST_P(RetryUntilTest, ABlockThatReadNothingSleepsUntilItsDeadline) {
  watchdog guard("blocks that read nothing and wait 100 ms", 60s);
  const int threads = GetParam();
  std::vector<waited> seen(static_cast<std::size_t>(threads));
  run_threads(threads, [&](int index) {
    waited& w = seen[static_cast<std::size_t>(index)];
    const auto t0 = steady::now();
    const double c0 = thread_cpu_seconds();
    optimist::atomically([&] {
      // The deadline is taken by the first attempt (kept across re-runs): it lies ahead when
      // the block first retries, however late its thread starts.
      if (++w.attempts == 1) w.deadline = steady::now() + 100ms;
      optimist::retry_until(w.deadline);
    });
    w.after_deadline = steady::now() >= w.deadline;
    w.cpu = thread_cpu_seconds() - c0;
    w.wall = std::chrono::duration<double>(steady::now() - t0).count();
  });
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_TRUE(seen[i].after_deadline) << "thread " << i;
    EXPECT_GE(seen[i].attempts, 2) << "thread " << i;
    EXPECT_LT(seen[i].cpu, 0.25 * seen[i].wall)
        << "thread " << i << " used " << seen[i].cpu << " s of CPU in " << seen[i].wall << " s";
  }
}

// An object the waiting attempt allocated is destroyed when it rolls back, before the wait; its
// destructor runs a block of its own. That block used to reset the deadline (start()), and the
// wait slept with none: for ever, since nobody writes what the waiter read.
optimist::tvar<long> g_destroyed{0};

struct audited {
  ~audited() {
    optimist::atomically([] { g_destroyed.set(g_destroyed.get() + 1); });
  }
};

TEST_P(RetryUntilTest, TheDeadlineSurvivesADestructorsBlockBeforeTheWait) {
  watchdog guard("waiters whose lost objects' destructors run blocks", 30s);
  const int threads = GetParam();
  optimist::tvar<long> flag{0};
  const long destroyed_before = g_destroyed.get();
  std::vector<char> after_deadline(static_cast<std::size_t>(threads), 0);
  std::vector<audited*> kept(static_cast<std::size_t>(threads), nullptr);
  run_threads(threads, [&](int index) {
    const auto u = static_cast<std::size_t>(index);
    // Taken by the first attempt (kept across re-runs): it lies ahead when the block first
    // retries, however late its thread starts, so that attempt loses its object.
    std::optional<steady::time_point> deadline;
    kept[u] = optimist::atomically([&] {
      if (!deadline) deadline = steady::now() + 100ms;
      audited* mine = optimist::tx_new<audited>();
      if (flag.get() == 0) optimist::retry_until(*deadline);
      return mine;
    });
    after_deadline[u] = steady::now() >= *deadline;
  });
  for (std::size_t i = 0; i < after_deadline.size(); ++i) {
    EXPECT_TRUE(after_deadline[i]) << "thread " << i;
  }
  // Read before the kept objects are deleted: only the attempts that waited lost theirs.
  const long lost = g_destroyed.get() - destroyed_before;
  EXPECT_GE(lost, threads) << "no lost object was destroyed";
  for (audited* mine : kept) optimist::atomically([&] { optimist::tx_delete(mine); });
  optimist::detail::reclaim_now();
  EXPECT_EQ(g_destroyed.get() - destroyed_before, lost + threads);
}

INSTANTIATE_TEST_SUITE_P(Threads, RetryUntilTest, ::testing::Values(1, 2, 4));

TEST(RetryUntilMisuse, OutsideAnAtomicBlockIsALogicErrorEvenAfterItsDeadline) {
  for (const auto deadline : {steady::now() + 10s, steady::now() - 1s}) {
    try {
      optimist::retry_until(deadline);
      FAIL() << "retry_until outside an atomic block returned";
    } catch (const std::logic_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("optimist::retry_until()"), std::string::npos) << what;
      EXPECT_NE(what.find("retry_until_test.cpp:"), std::string::npos) << what;
      EXPECT_NE(what.find("outside an atomic block"), std::string::npos) << what;
    }
  }
}

TEST(RetryUntilMisuse, AfterBecomeInevitableIsALogicErrorWhileTheDeadlineLiesAhead) {
  optimist::tvar<long> x{0};
  try {
    optimist::atomically([&] {
      x.get();
      optimist::become_inevitable();
      optimist::retry_until(steady::now() + 10s);
    });
    FAIL() << "retry_until after become_inevitable returned";
  } catch (const std::logic_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("optimist::retry_until()"), std::string::npos) << what;
    EXPECT_NE(what.find("become_inevitable"), std::string::npos) << what;
  }
  // Once the deadline has passed there is nothing to roll back for: it returns.
  const long got = optimist::atomically([&] {
    const long v = x.get();
    optimist::become_inevitable();
    optimist::retry_until(steady::now() - 1ms);
    return v + 1;
  });
  EXPECT_EQ(got, 1);
}

}  // namespace

}  // namespace retry_until_test
