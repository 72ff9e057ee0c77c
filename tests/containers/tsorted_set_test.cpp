// optimist::tsorted_set: the semantics of std::set, and its use as a concurrent priority queue
// (producers insert, consumers take the smallest element, waiting with optimist::retry while
// the set is empty).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/containers.hpp"
#include "optimist/retry.hpp"
#include "optimist/tvar.hpp"
#include "reclaim_at_exit.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace tsorted_set_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

template <class Set>
std::optional<typename Set::value_type> first_of(const Set& s) {
  if (s.empty()) return std::nullopt;
  return *s.begin();
}

// Random operations on a descending set of strings and on a std::set with the same order.
TEST(TsortedSetTest, SingleThreadMatchesStdSet) {
  using descending = std::greater<std::string>;
  optimist::tsorted_set<std::string, descending> set;
  std::set<std::string, descending> model;
  std::mt19937_64 random(7);
  auto word = [&] { return "w" + std::to_string(random() % 2000); };
  for (long step = 0; step < scaled(30000); ++step) {
    const std::string key = word();
    switch (random() % 9) {
      case 0:
      case 1:
        ASSERT_EQ(set.insert(key), model.insert(key).second) << "insert " << key;
        break;
      case 2:
        ASSERT_EQ(set.erase(key), model.erase(key)) << "erase " << key;
        break;
      case 3:
        ASSERT_EQ(set.contains(key), model.count(key) == 1) << "contains " << key;
        break;
      case 4: {
        const auto lower = model.lower_bound(key);
        ASSERT_EQ(set.lower_bound(key),
                  lower == model.end() ? std::nullopt : std::optional<std::string>(*lower));
        const auto upper = model.upper_bound(key);
        ASSERT_EQ(set.upper_bound(key),
                  upper == model.end() ? std::nullopt : std::optional<std::string>(*upper));
        ASSERT_EQ(set.floor(key), upper == model.begin()
                                      ? std::nullopt
                                      : std::optional<std::string>(*std::prev(upper)));
        break;
      }
      case 5: {
        // In this order "w9" < "w5" means "w9" comes first: a range runs from high to low.
        const std::string hi = word();
        std::vector<std::string> expected;
        if (model.key_comp()(key, hi)) {
          expected.assign(model.lower_bound(key), model.lower_bound(hi));
        }
        ASSERT_EQ(set.range(key, hi), expected) << key << " .. " << hi;
        if (random() % 4 == 0) {
          ASSERT_EQ(set.erase_range(key, hi), expected.size());
          for (const std::string& k : expected) model.erase(k);
        }
        break;
      }
      case 6: {
        const std::optional<std::string> popped = set.pop_first();
        ASSERT_EQ(popped, first_of(model));
        if (popped) model.erase(model.begin());
        break;
      }
      case 7: {
        const std::optional<std::string> popped = set.pop_last();
        ASSERT_EQ(popped,
                  model.empty() ? std::nullopt : std::optional<std::string>(*model.rbegin()));
        if (popped) model.erase(std::prev(model.end()));
        break;
      }
      default:
        ASSERT_EQ(set.size(), model.size());
        ASSERT_EQ(set.first(), first_of(model));
        break;
    }
  }
  EXPECT_EQ(set.snapshot(), std::vector<std::string>(model.begin(), model.end()));
  std::vector<std::string> walked;
  set.for_each([&](const std::string& k) { walked.push_back(k); });
  EXPECT_EQ(walked, set.snapshot());
}

class TsortedSetConcurrentTest : public ::testing::TestWithParam<int> {};

// Producers insert distinct numbers in a shuffled order; consumers take the smallest element
// with pop_first, or wait (optimist::retry) while the set is empty, until they have taken as
// many as were produced. Every number is taken exactly once, and what one consumer takes in one
// transaction is the two smallest elements at that moment (checked against the set itself).
TEST_P(TsortedSetConcurrentTest, AsPriorityQueueEachElementIsTakenOnce) {
  const int producers = GetParam();
  const int consumers = GetParam();
  const long per_producer = scaled(4000);
  const long total = per_producer * producers;
  optimist::tsorted_set<long> queue;
  std::vector<std::atomic<int>> taken(static_cast<std::size_t>(total));
  optimist::tvar<long> remaining{total};  // read by waiting consumers: the last take wakes them
  std::atomic<long> out_of_order{0};

  {
    optimist::test::watchdog guard("a tsorted_set as a priority queue");
    run_threads(producers + consumers, [&](int index) {
      if (index < producers) {
        std::vector<long> mine;
        for (long i = 0; i < per_producer; ++i) mine.push_back(i * producers + index);
        std::shuffle(mine.begin(), mine.end(),
                     std::mt19937_64(static_cast<std::uint64_t>(index) + 5));
        for (long value : mine) EXPECT_TRUE(queue.insert(value));
        return;
      }
      for (;;) {
        // Two at a time when there are two: the second must be the smallest of what remains.
        const std::vector<long> got = optimist::atomically([&]() -> std::vector<long> {
          std::optional<long> a = queue.pop_first();
          if (!a) {
            if (remaining.get() == 0) return {};
            optimist::retry();  // woken by the next insert, or by the last take
          }
          std::optional<long> b = queue.pop_first();
          if (b && (*b <= *a || queue.first().value_or(*b + 1) <= *b)) out_of_order.fetch_add(1);
          remaining.set(remaining.get() - (b ? 2 : 1));
          return b ? std::vector<long>{*a, *b} : std::vector<long>{*a};
        });
        if (got.empty()) return;
        for (long value : got) taken[static_cast<std::size_t>(value)].fetch_add(1);
      }
    });
  }
  EXPECT_EQ(out_of_order.load(), 0);
  EXPECT_TRUE(queue.empty());
  for (long v = 0; v < total; ++v) {
    ASSERT_EQ(taken[static_cast<std::size_t>(v)].load(), 1) << "element " << v;
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, TsortedSetConcurrentTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace tsorted_set_test
