// optimist::tqueue::pop_until / pop_for: pop(), but std::nullopt once the
// deadline has passed with the queue still empty.
//
// Checked: an empty queue times out (after the deadline, asleep meanwhile);
// an item pushed while a consumer waits is returned before the deadline;
// consumers that stop on a timeout once the producers are done take every
// item exactly once, at 1, 2 and 4 consumers; inside or_else a timed pop
// hands over to the second alternative before its deadline, and the block
// wakes on the second alternative's push or at the deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/containers.hpp"
#include "optimist/retry.hpp"
#include "optimist/stats.hpp"
#include "support/cpu_time.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace tqueue_timeout_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;
using optimist::test::thread_cpu_seconds;
using optimist::test::watchdog;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(TqueueTimeoutTest, AnEmptyQueueTimesOutAtTheDeadlineAndTheConsumerSleeps) {
  watchdog guard("pop_until on an empty queue", 60s);
  optimist::tqueue<long> q;
  const auto deadline = steady::now() + 150ms;
  const auto t0 = steady::now();
  const double c0 = thread_cpu_seconds();
  const std::optional<long> got = q.pop_until(deadline);
  const double cpu = thread_cpu_seconds() - c0;
  const double wall = std::chrono::duration<double>(steady::now() - t0).count();
  EXPECT_FALSE(got.has_value());
  EXPECT_GE(steady::now(), deadline);
  EXPECT_LT(cpu, 0.25 * wall) << cpu << " s of CPU in " << wall << " s";
  EXPECT_TRUE(q.empty());
  // A deadline that has passed: an answer at once, also when there is an item.
  EXPECT_FALSE(q.pop_for(-1ms).has_value());
  q.push(7);
  EXPECT_EQ(q.pop_until(steady::now() - 1s), std::optional<long>(7));
}

TEST(TqueueTimeoutTest, AnItemPushedWhileItWaitsIsReturnedBeforeTheDeadline) {
  watchdog guard("pop_for woken by a push", 60s);
  optimist::reset_stats();
  optimist::tqueue<long> q;
  std::thread producer([&] {
    while (optimist::stats().retries == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    q.push(42);
  });
  const auto deadline = steady::now() + 30s;  // the watchdog fires first
  const std::optional<long> got = q.pop_until(deadline);
  producer.join();
  EXPECT_EQ(got, std::optional<long>(42));
  EXPECT_LT(steady::now(), deadline);
}

class TqueueTimeoutThreads : public ::testing::TestWithParam<int> {};

// The usual shutdown loop: consumers wait a little for each item and stop at
// a timeout once the producers have finished.
TEST_P(TqueueTimeoutThreads, ConsumersThatStopOnATimeoutTakeEveryItemExactlyOnce) {
  watchdog guard("consumers with pop_for and a done flag");
  const int consumers = GetParam();
  constexpr int producers = 2;
  const long per_producer = scaled(2000);
  optimist::tqueue<long> q;
  std::atomic<bool> done{false};
  std::atomic<int> producers_left{producers};
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(producers * per_producer));
  run_threads(producers + consumers, [&](int index) {
    if (index < producers) {
      for (long i = 0; i < per_producer; ++i) {
        q.push(index * per_producer + i);
        if (i % 64 == 0) std::this_thread::yield();
      }
      if (producers_left.fetch_sub(1) == 1) done.store(true);
      return;
    }
    for (;;) {
      const bool finished = done.load();  // before the pop: a timeout after it means empty
      if (std::optional<long> item = q.pop_for(5ms)) {
        seen[static_cast<std::size_t>(*item)].fetch_add(1);
      } else if (finished) {
        return;
      }
    }
  });
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "item " << i;
  EXPECT_TRUE(q.empty());
}

INSTANTIATE_TEST_SUITE_P(Consumers, TqueueTimeoutThreads, ::testing::Values(1, 2, 4));

// or_else(timed pop of a, pop of b): before the deadline the first alternative
// hands over to the second; the block wakes for a push to either queue or at
// the deadline, when the first alternative answers std::nullopt.
std::optional<long> timed_or_blocking(optimist::tqueue<long>& a, optimist::tqueue<long>& b,
                                      steady::time_point deadline) {
  return optimist::or_else([&] { return a.pop_until(deadline); },
                           [&] { return std::optional<long>(b.pop()); });
}

// A timeout beyond the clock's range means "for ever": the pop waits for the push. (now +
// hours::max() used to overflow into the past, and the pop returned std::nullopt at once.)
TEST(TqueueTimeoutTest, ATimeoutPastTheClocksRangeWaitsForThePush) {
  optimist::tqueue<int> queue;
  auto pop_with_push_after_50ms = [&](auto timeout, int item) {
    std::thread pusher([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      queue.push(item);
    });
    optimist::test::watchdog guard("pop_for with a timeout past the clock's range");
    EXPECT_EQ(queue.pop_for(timeout), item);
    pusher.join();
  };
  pop_with_push_after_50ms(std::chrono::hours::max(), 1);
  pop_with_push_after_50ms(std::chrono::nanoseconds::max(), 2);
  pop_with_push_after_50ms(std::chrono::duration<double>(1e30), 3);
  // Narrow and fine-grained types: the clock's headroom fits neither (it wrapped, and a short
  // timeout then waited for ever or for nothing).
  pop_with_push_after_50ms(std::chrono::duration<int, std::milli>(10'000), 4);
  pop_with_push_after_50ms(std::chrono::duration<long long, std::pico>(10'000'000'000'000LL), 5);
  optimist::test::watchdog guard("short pop_for timeouts of narrow types");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(queue.pop_for(std::chrono::duration<int, std::milli>(30)), std::nullopt);
  EXPECT_EQ(queue.pop_for(std::chrono::duration<long long, std::pico>(30'000'000'000LL)),
            std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30))
      << "short timeouts of narrow types were taken as for ever";
}

TEST(TqueueTimeoutTest, InsideOrElseTheBlockTimesOutAtTheDeadline) {
  watchdog guard("or_else over a timed pop and a pop, nothing pushed", 60s);
  optimist::tqueue<long> a, b;
  const auto deadline = steady::now() + 100ms;
  EXPECT_FALSE(timed_or_blocking(a, b, deadline).has_value());
  EXPECT_GE(steady::now(), deadline);
}

TEST(TqueueTimeoutTest, InsideOrElseAPushToTheSecondQueueWakesTheBlock) {
  watchdog guard("or_else over a timed pop and a pop, woken through the second", 60s);
  optimist::reset_stats();
  optimist::tqueue<long> a, b;
  std::thread producer([&] {
    while (optimist::stats().retries == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    b.push(9);
  });
  const auto deadline = steady::now() + 30s;
  const std::optional<long> got = timed_or_blocking(a, b, deadline);
  producer.join();
  EXPECT_EQ(got, std::optional<long>(9));
  EXPECT_LT(steady::now(), deadline);
}

}  // namespace

}  // namespace tqueue_timeout_test
