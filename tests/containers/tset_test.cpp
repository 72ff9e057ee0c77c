// optimist::tset: the semantics of std::unordered_set, inside and outside
// transactions, under concurrency (see tmap_test.cpp for the approach).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/containers.hpp"
#include "optimist/stats.hpp"
#include "reclaim_at_exit.hpp"
#include "support/describe_stats.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace tset_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

template <class K>
std::set<K> sorted(const std::vector<K>& keys) {
  std::set<K> result;
  for (const K& k : keys) EXPECT_TRUE(result.insert(k).second) << "a key appears twice in the set";
  return result;
}

void random_step(optimist::tset<long>& set, std::unordered_set<long>& model,
                 std::mt19937_64& random, long base, long range) {
  const long key = base + static_cast<long>(random() % static_cast<std::uint64_t>(range));
  switch (random() % 3) {
    case 0:
      EXPECT_EQ(set.insert(key), model.insert(key).second) << "insert " << key;
      break;
    case 1:
      EXPECT_EQ(set.erase(key), model.erase(key)) << "erase " << key;
      break;
    default:
      EXPECT_EQ(set.contains(key), model.contains(key)) << "contains " << key;
      break;
  }
}

TEST(TsetTest, SingleThreadMatchesUnorderedSet) {
  optimist::tset<long> set;
  std::unordered_set<long> model;
  std::mt19937_64 random(5);
  for (long step = 0; step < scaled(30000); ++step) {
    random_step(set, model, random, 0, 3000);
    if (step % 1000 == 0) {
      ASSERT_EQ(set.size(), model.size());
    }
  }
  EXPECT_EQ(sorted(set.snapshot()), std::set<long>(model.begin(), model.end()));
  EXPECT_GT(set.bucket_count(), optimist::detail::containers::default_bucket_count);
  std::size_t visited = 0;
  set.for_each([&](const long& k) {
    EXPECT_TRUE(model.contains(k));
    ++visited;
  });
  EXPECT_EQ(visited, model.size());
  set.clear();
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.size(), 0u);
}

TEST(TsetTest, StringKeysAndInitializerList) {
  optimist::tset<std::string> words{"alpha", "beta", "alpha"};
  EXPECT_EQ(words.size(), 2u);
  EXPECT_TRUE(words.contains("beta"));
  EXPECT_FALSE(words.insert("beta"));
  EXPECT_TRUE(words.insert(std::string(100, 'x')));  // long enough to live on the heap
  EXPECT_EQ(words.erase("alpha"), 1u);
  EXPECT_EQ(sorted(words.snapshot()), (std::set<std::string>{"beta", std::string(100, 'x')}));
}

TEST(TsetTest, ThrowingTransactionLeavesNoTrace) {
  optimist::tset<long> set{1, 2, 3};
  EXPECT_THROW(optimist::atomically([&] {
                 set.erase(1);
                 for (long k = 10; k < 1000; ++k) set.insert(k);
                 set.clear();
                 set.insert(99);
                 throw std::runtime_error("undo");
               }),
               std::runtime_error);
  EXPECT_EQ(sorted(set.snapshot()), (std::set<long>{1, 2, 3}));
  EXPECT_EQ(set.size(), 3u);
}

class TsetConcurrentTest : public ::testing::TestWithParam<int> {};

TEST_P(TsetConcurrentTest, DisjointKeyRangesMatchPerThreadModels) {
  const int threads = GetParam();
  const long range = 1500;
  optimist::tset<long> set;
  std::vector<std::unordered_set<long>> models(static_cast<std::size_t>(threads));
  optimist::reset_stats();
  {
    optimist::test::watchdog guard("random tset operations on disjoint key ranges");
    run_threads(threads, [&](int index) {
      std::mt19937_64 random(static_cast<std::uint64_t>(index) * 7 + 1);
      for (long step = 0; step < scaled(15000); ++step) {
        random_step(set, models[static_cast<std::size_t>(index)], random, index * range, range);
      }
    });
  }
  std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());
  std::set<long> expected;
  for (const auto& model : models) expected.insert(model.begin(), model.end());
  EXPECT_EQ(sorted(set.snapshot()), expected);
  EXPECT_EQ(set.size(), expected.size());
}

// Threads insert and erase shared keys, each change with a per-key tally kept
// in the same transaction: a key is present exactly when its tally is odd.
TEST_P(TsetConcurrentTest, MembershipFollowsTransactionalTally) {
  const int threads = GetParam();
  const long keys = 32;
  optimist::tset<long> set;
  optimist::tvector<long> flips(static_cast<std::size_t>(keys), 0);
  {
    optimist::test::watchdog guard("toggling shared tset keys");
    run_threads(threads, [&](int index) {
      std::mt19937_64 random(static_cast<std::uint64_t>(index) + 9);
      for (long i = 0; i < scaled(10000); ++i) {
        const long k = static_cast<long>(random() % keys);
        optimist::atomically([&] {
          if (set.contains(k)) {
            EXPECT_EQ(set.erase(k), 1u);
          } else {
            optimist::test::think(3);
            EXPECT_TRUE(set.insert(k));
          }
          flips[static_cast<std::size_t>(k)] += 1;
        });
      }
    });
  }
  long total_flips = 0;
  for (long k = 0; k < keys; ++k) {
    const long f = flips.at(static_cast<std::size_t>(k));
    total_flips += f;
    EXPECT_EQ(set.contains(k), f % 2 == 1) << "key " << k << " after " << f << " flips";
  }
  EXPECT_EQ(total_flips, threads * scaled(10000));
}

INSTANTIATE_TEST_SUITE_P(Threads, TsetConcurrentTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace tset_test
