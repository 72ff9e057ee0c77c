// optimist::tsorted_map: the semantics of std::map, inside and outside transactions, under
// concurrency, and the conflict footprint the header promises.
//
// Single-threaded runs replay random operations on a tsorted_map and on a std::map and compare
// every result (the neighbour queries and ranges included). Concurrent runs give each thread its
// own key range and check it against the thread's own model as it goes (the final map must equal
// the union of the models), or share keys and check invariants: keys move between places in one
// transaction while auditors walk the map and must always see it sorted, complete and conserved.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "interleave.hpp"
#include "optimist/atomically.hpp"
#include "optimist/containers.hpp"
#include "optimist/stats.hpp"
#include "reclaim_at_exit.hpp"
#include "support/describe_stats.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace tsorted_map_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;
using sorted_map = optimist::tsorted_map<long, long>;
using entry = std::pair<long, long>;

std::vector<entry> model_items(const std::map<long, long>& model, long lo, long hi) {
  std::vector<entry> items;
  for (auto it = model.lower_bound(lo); it != model.end() && it->first < hi; ++it) {
    items.push_back(*it);
  }
  return items;
}

std::optional<entry> model_entry(const std::map<long, long>& model,
                                 std::map<long, long>::const_iterator it) {
  if (it == model.end()) return std::nullopt;
  return *it;
}

// One random operation on `map` and on `model`, results compared. Keys are drawn from
// [base, base + range).
void random_step(sorted_map& map, std::map<long, long>& model, std::mt19937_64& random, long base,
                 long range) {
  const long key = base + static_cast<long>(random() % static_cast<std::uint64_t>(range));
  const long value = static_cast<long>(random() % 1000);
  // Ranges and pops stay inside [base, base + range): with several threads, the rest of the
  // map belongs to the others.
  const long hi = std::min(base + range, key + static_cast<long>(random() % 40));
  switch (random() % 14) {
    case 0:
    case 1:
      EXPECT_EQ(map.insert({key, value}), model.emplace(key, value).second) << "insert " << key;
      break;
    case 2:
      EXPECT_EQ(map.insert_or_assign(key, value), model.insert_or_assign(key, value).second)
          << "insert_or_assign " << key;
      break;
    case 3:
      EXPECT_EQ(map.erase(key), model.erase(key)) << "erase " << key;
      break;
    case 4: {
      const auto it = model.find(key);
      EXPECT_EQ(map.find(key), it == model.end() ? std::nullopt : std::optional<long>(it->second))
          << "find " << key;
      EXPECT_EQ(map.contains(key), it != model.end()) << "contains " << key;
      break;
    }
    case 5:
    case 6: {
      // Within the thread's range: a bound past it may be another thread's key.
      const bool upper = random() % 2 == 0;
      const auto it = upper ? model.upper_bound(key) : model.lower_bound(key);
      const std::optional<entry> got = upper ? map.upper_bound(key) : map.lower_bound(key);
      if (it != model.end()) {
        EXPECT_EQ(got, entry(*it)) << (upper ? "upper_bound " : "lower_bound ") << key;
      } else {
        EXPECT_TRUE(!got || got->first >= base + range)
            << (upper ? "upper_bound " : "lower_bound ") << key;
      }
      break;
    }
    case 7: {
      const auto it = model.upper_bound(key);
      const std::optional<entry> got = map.floor(key);
      if (it != model.begin()) {
        EXPECT_EQ(got, entry(*std::prev(it))) << "floor " << key;
      } else {
        EXPECT_TRUE(!got || got->first < base) << "floor " << key;
      }
      break;
    }
    case 8:
      EXPECT_EQ(map.range(key, hi), model_items(model, key, hi)) << "range " << key << " " << hi;
      break;
    case 9: {
      const std::size_t expected = model_items(model, key, hi).size();
      EXPECT_EQ(map.erase_range(key, hi), expected) << "erase_range " << key << " " << hi;
      model.erase(model.lower_bound(key), model.lower_bound(std::max(key, hi)));
      break;
    }
    case 10: {
      const long now = map.update(key, [&](long v) { return v * 2 + value; });
      long& expected = model[key];
      expected = expected * 2 + value;
      EXPECT_EQ(now, expected) << "update " << key;
      break;
    }
    case 11:
      EXPECT_EQ(map[key] += value, model[key] += value) << "m[k] += " << key;
      break;
    case 12: {
      std::vector<entry> seen;
      // In a block of our own: outside one, f runs again when for_each_in's transaction
      // restarts, and would collect twice.
      optimist::atomically([&] {
        seen.clear();
        map.for_each_in(key, hi, [&](long k, long v) { seen.emplace_back(k, v); });
      });
      EXPECT_EQ(seen, model_items(model, key, hi)) << "for_each_in " << key << " " << hi;
      break;
    }
    default: {
      // Pop the first or last key of the thread's range, in one transaction with the check
      // that it is in the range (another thread's keys lie outside it).
      const bool front = random() % 2 == 0;
      const std::optional<entry> popped = optimist::atomically([&]() -> std::optional<entry> {
        std::optional<entry> got = front ? map.lower_bound(base) : map.floor(base + range - 1);
        if (!got || got->first < base || got->first >= base + range) return std::nullopt;
        map.erase(got->first);
        return got;
      });
      if (model.empty()) {
        EXPECT_FALSE(popped.has_value());
      } else {
        const auto it = front ? model.begin() : std::prev(model.end());
        EXPECT_EQ(popped, entry(*it)) << (front ? "first" : "last") << " of the range";
        model.erase(it);
      }
      break;
    }
  }
}

TEST(TsortedMapTest, SingleThreadMatchesStdMap) {
  sorted_map map;
  std::map<long, long> model;
  std::mt19937_64 random(42);
  for (long step = 0; step < scaled(40000); ++step) {
    random_step(map, model, random, 0, 3000);
    if (step % 1000 == 0) {
      ASSERT_EQ(map.size(), model.size());
      ASSERT_EQ(map.snapshot(), model_items(model, 0, 3000));
    }
  }
  EXPECT_EQ(map.size(), model.size());
  EXPECT_EQ(map.empty(), model.empty());
  EXPECT_EQ(map.first(), model_entry(model, model.begin()));
  EXPECT_EQ(map.last(), model.empty() ? std::nullopt : std::optional<entry>(*model.rbegin()));
  // The whole-map pops, down to empty.
  while (!model.empty()) {
    ASSERT_EQ(map.pop_first(), entry(*model.begin()));
    model.erase(model.begin());
    if (model.empty()) break;
    ASSERT_EQ(map.pop_last(), entry(*model.rbegin()));
    model.erase(std::prev(model.end()));
  }
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.pop_first(), std::nullopt);
  EXPECT_EQ(map.pop_last(), std::nullopt);
  EXPECT_EQ(map.first(), std::nullopt);
  EXPECT_EQ(map.last(), std::nullopt);
}

TEST(TsortedMapTest, EdgeCasesOfTheQueries) {
  sorted_map map{{10, 1}, {20, 2}, {30, 3}, {10, 99}};  // as std::map: the first 10 wins
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.find(10), 1);
  EXPECT_EQ(map.lower_bound(20), entry(20, 2));
  EXPECT_EQ(map.upper_bound(20), entry(30, 3));
  EXPECT_EQ(map.floor(20), entry(20, 2));
  EXPECT_EQ(map.floor(19), entry(10, 1));
  EXPECT_EQ(map.floor(9), std::nullopt);
  EXPECT_EQ(map.lower_bound(31), std::nullopt);
  EXPECT_EQ(map.upper_bound(30), std::nullopt);
  // Empty and reversed ranges are empty, not errors.
  EXPECT_TRUE(map.range(20, 20).empty());
  EXPECT_TRUE(map.range(30, 10).empty());
  EXPECT_EQ(map.erase_range(30, 10), 0u);
  EXPECT_EQ(map.range(0, 100).size(), 3u);
  EXPECT_EQ(map.range(10, 30), (std::vector<entry>{{10, 1}, {20, 2}}));
  EXPECT_EQ(map.erase_range(11, 31), 2u);
  EXPECT_EQ(map.snapshot(), (std::vector<entry>{{10, 1}}));
  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_TRUE(map.insert({5, 5})) << "a cleared map is usable";
  EXPECT_EQ(map.snapshot(), (std::vector<entry>{{5, 5}}));
}

TEST(TsortedMapTest, StringKeysAndCustomOrder) {
  optimist::tsorted_map<std::string, int, std::greater<>> map;
  for (const char* word : {"pear", "apple", "fig", "quince", "banana"}) {
    map[word] += static_cast<int>(std::string(word).size());
  }
  std::vector<std::string> order;
  map.for_each([&](const std::string& k, int) { order.push_back(k); });
  EXPECT_EQ(order, (std::vector<std::string>{"quince", "pear", "fig", "banana", "apple"}));
  EXPECT_EQ(map.first(), std::make_pair(std::string("quince"), 6));
  // In a descending order, lower_bound("g") is the first key not greater than "g".
  EXPECT_EQ(map.lower_bound("g"), std::make_pair(std::string("fig"), 3));
  EXPECT_EQ(map.range("pz", "b").size(), 3u) << "pear, fig, banana";
}

// An f that returns bool ends the walk by returning false.
TEST(TsortedMapTest, AWalkEndsWhenFReturnsFalse) {
  sorted_map map;
  for (long k = 0; k < 1000; ++k) map.insert({k, k});
  std::vector<long> seen;
  map.for_each_in(100, 1000, [&](long k, long) {
    seen.push_back(k);
    return seen.size() < 3;
  });
  EXPECT_EQ(seen, (std::vector<long>{100, 101, 102}));
  seen.clear();
  map.for_each([&](long k, long) {
    seen.push_back(k);
    return k < 4;
  });
  EXPECT_EQ(seen, (std::vector<long>{0, 1, 2, 3, 4}));
}

// Erasing the visited element from for_each is allowed (the walk reads its link afterwards).
TEST(TsortedMapTest, ForEachMayEraseWhatItVisits) {
  sorted_map map;
  for (long k = 0; k < 100; ++k) map.insert({k, k});
  optimist::atomically([&] {
    map.for_each([&](long k, long) {
      if (k % 3 != 0) map.erase(k);
    });
  });
  const std::vector<entry> left = map.snapshot();
  ASSERT_EQ(left.size(), 34u);
  for (const auto& [k, v] : left) EXPECT_EQ(k % 3, 0) << k;
  EXPECT_EQ(map.size(), 34u);
}

// f may erase other keys too, also the ones after the visited key: the walk goes on from the
// first key still in the map, and never gives f an erased one. (An unlinked node keeps its
// links, and the walk used to follow them: with f erasing k and k + 1, f was handed every
// key; after a clear() or an erase_range, every key that had been in the map.)
TEST(TsortedMapTest, ForEachNeverVisitsWhatFErased) {
  sorted_map map;
  for (long k = 0; k < 10; ++k) map.insert({k, k});
  std::vector<long> visited;
  map.for_each([&](long k, long v) {
    EXPECT_EQ(k, v);
    visited.push_back(k);
    map.erase(k);
    map.erase(k + 1);
  });
  EXPECT_EQ(visited, (std::vector<long>{0, 2, 4, 6, 8}));
  EXPECT_TRUE(map.empty());

  for (long k = 0; k < 10; ++k) map.insert({k, k});
  visited.clear();
  map.for_each_in(2, 9, [&](long k, long) {
    visited.push_back(k);
    map.erase_range(k + 1, k + 3);
  });
  EXPECT_EQ(visited, (std::vector<long>{2, 5, 8}));
  EXPECT_EQ(map.size(), 5u);  // 0 1 2 5 8

  visited.clear();
  map.for_each([&](long k, long) {
    visited.push_back(k);
    map.clear();
  });
  EXPECT_EQ(visited, (std::vector<long>{0}));
  EXPECT_TRUE(map.empty());

  optimist::tsorted_set<long> set{0, 1, 2, 3, 4, 5};
  visited.clear();
  set.for_each([&](long k) {
    visited.push_back(k);
    set.erase(k);
    set.erase(k + 1);
  });
  EXPECT_EQ(visited, (std::vector<long>{0, 2, 4}));
  EXPECT_TRUE(set.empty());
}

// update(k, f) with an f that changes the map itself, even the same key: f's changes stay and
// f's result is written to the key as it is after f.
TEST(TsortedMapTest, UpdateWhoseFunctionChangesTheMapKeepsEveryChange) {
  sorted_map map{{0, 10}, {50, 50}};
  EXPECT_EQ(map.update(0,
                       [&](long v) {
                         for (long k = 1; k < 40; ++k) map.insert({k, k});
                         EXPECT_EQ(map.erase(0), 1u);
                         return v + 1;
                       }),
            11);
  EXPECT_EQ(map.size(), 41u);
  EXPECT_EQ(map.first(), entry(0, 11));
  EXPECT_EQ(map.update(60,
                       [&](long v) {
                         EXPECT_TRUE(map.insert({60, 100}));
                         return v + 1;
                       }),
            1);
  EXPECT_EQ(map.find(60), 1);
  EXPECT_EQ(map.size(), 42u);
  EXPECT_EQ(map.snapshot().size(), 42u);
}

// An exception out of a block rolls back every operation of it, the structure included.
TEST(TsortedMapTest, ThrowingTransactionLeavesNoTrace) {
  sorted_map map;
  for (long k = 0; k < 200; k += 2) map.insert({k, k});
  const std::vector<entry> before = map.snapshot();
  EXPECT_THROW(optimist::atomically([&] {
                 for (long k = 1; k < 200; k += 2) map.insert({k, -k});
                 map.erase_range(50, 150);
                 (void)map.pop_first();
                 (void)map.pop_last();
                 map[1000] = 7;
                 throw std::runtime_error("undo all of it");
               }),
               std::runtime_error);
  EXPECT_EQ(map.snapshot(), before);
  EXPECT_EQ(map.size(), before.size());
}

// A comparator that throws: the operation propagates the exception and leaves the map as it
// was, with the block's earlier operations undone too.
TEST(TsortedMapTest, ThrowingComparatorLeavesMapUnchanged) {
  struct picky_less {
    bool operator()(long a, long b) const {
      if (a == 666 || b == 666) throw std::invalid_argument("666 cannot be compared");
      return a < b;
    }
  };
  optimist::tsorted_map<long, long, picky_less> map;
  for (long k = 0; k < 500; ++k) map.insert({k * 2 + 1, k});
  EXPECT_THROW(map.insert({666, 1}), std::invalid_argument);
  EXPECT_THROW(optimist::atomically([&] {
                 map.insert({2, 2});
                 map.erase(1);
                 map[4] += 1;
                 (void)map.lower_bound(666);
               }),
               std::invalid_argument);
  EXPECT_EQ(map.size(), 500u);
  EXPECT_EQ(map.first(), entry(1, 0));
  EXPECT_FALSE(map.contains(2));
  EXPECT_FALSE(map.contains(4));
}

// A search reads the links along its path and an insert or erase writes the links that point at
// its node, so operations on keys far apart commit in the middle of each other without an abort
// (unless the insert draws a node as tall as the shared top of both paths, about 4^-6 here: a
// few of the 800 pairs at most). The controls conflict every time: an insert just before the key
// found, and one inside a range being read.
TEST(TsortedMapTest, KeysFarApartDoNotConflict) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("conflicts staged between threads");
  sorted_map map;
  for (long k = 0; k < 8192; ++k) map.insert({k * 10, k});
  using optimist::test::attempts_around;
  int conflicts = 0;
  for (long pair = 0; pair < 200; ++pair) {
    const long a = (pair % 20) * 10 + 5;   // near the front
    const long b = 30000 + pair * 10 + 5;  // far behind it; absent
    const long c = 40000 + pair * 10;      // present
    conflicts += attempts_around([&] { (void)map.find(a * 10); }, [&] { map.insert({b, 1}); }) - 1;
    conflicts += attempts_around([&] { (void)map.range(a, a + 50); }, [&] { map.erase(c); }) - 1;
    conflicts += attempts_around([&] { map[a] += 1; }, [&] { map[b] += 1; }) - 1;
    // Two inserts of fresh keys: the element counts must not collide either.
    const long fresh_a = pair * 10 + 3;
    const long fresh_b = 50000 + pair * 10 + 7;
    conflicts += attempts_around(
                     [&] {
                       map.insert({fresh_a, 1});
                     },
                     [&] {
                       map.insert({fresh_b, 1});
                     }) -
                 1;
  }
  EXPECT_LE(conflicts, 10) << "of 800 pairs of operations on keys far apart";
  // The controls.
  EXPECT_EQ(attempts_around([&] { (void)map.find(1000); },
                            [&] {
                              map.insert({999, 1});
                            }),
            2)
      << "the insert writes the link the search followed to 1000";
  EXPECT_EQ(attempts_around([&] { (void)map.range(2000, 2100); },
                            [&] {
                              map.insert({2055, 1});
                            }),
            2);
  EXPECT_EQ(attempts_around([&] { map[3000] += 1; }, [&] { map[3000] += 1; }), 2);
  EXPECT_EQ(map.find(3000), 302) << "300, +1 by the other thread, +1 by the re-run";
}

class TsortedMapConcurrentTest : public ::testing::TestWithParam<int> {};

// Each thread owns the keys [index * range, (index + 1) * range): its operations' results are
// deterministic and checked against its own model as it goes; afterwards the map equals the
// union of the models, in order.
TEST_P(TsortedMapConcurrentTest, DisjointKeyRangesMatchPerThreadModels) {
  const int threads = GetParam();
  const long range = 2000;
  const long steps = scaled(15000);
  sorted_map map;
  std::vector<std::map<long, long>> models(static_cast<std::size_t>(threads));

  optimist::reset_stats();
  {
    optimist::test::watchdog guard("random tsorted_map operations on disjoint key ranges");
    run_threads(threads, [&](int index) {
      std::mt19937_64 random(static_cast<std::uint64_t>(index) * 104729 + 3);
      auto& model = models[static_cast<std::size_t>(index)];
      for (long step = 0; step < steps; ++step) {
        random_step(map, model, random, index * range, range);
      }
    });
  }
  std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());

  std::map<long, long> expected;
  for (const auto& model : models) expected.insert(model.begin(), model.end());
  EXPECT_EQ(map.snapshot(), model_items(expected, 0, threads * range));
  EXPECT_EQ(map.size(), expected.size());
}

// Elements move between keys in one transaction each (erase one key, insert another with the
// same value); auditors walk the whole map in one transaction and check, in every attempt, that
// it is strictly sorted, holds every element once and that the values add up.
TEST_P(TsortedMapConcurrentTest, MovesKeepTheMapSortedAndComplete) {
  const int threads = GetParam();
  const long elements = 64;
  const long moves = scaled(8000);
  sorted_map map;
  long value_total = 0;
  for (long v = 0; v < elements; ++v) {
    map.insert({v * 100, v});
    value_total += v;
  }
  std::atomic<long> bad_audits{0};
  std::atomic<long> audits{0};
  std::atomic<int> movers_left{threads};

  {
    optimist::test::watchdog guard("moving tsorted_map elements between keys");
    run_threads(threads + 1, [&](int index) {
      if (index == threads) {
        // The auditor, until the movers are done.
        while (movers_left.load() > 0 || audits.load() == 0) {
          optimist::atomically([&] {
            long count = 0;
            long sum = 0;
            bool sorted = true;
            std::optional<long> previous;
            map.for_each([&](long k, long v) {
              if (previous && *previous >= k) sorted = false;
              previous = k;
              ++count;
              sum += v;
            });
            const bool ok = sorted && count == elements && sum == value_total &&
                            map.first()->first == map.snapshot().front().first;
            if (!ok) bad_audits.fetch_add(1);
          });
          audits.fetch_add(1);
        }
        return;
      }
      std::mt19937_64 random(static_cast<std::uint64_t>(index) + 77);
      for (long i = 0; i < moves; ++i) {
        const long target = static_cast<long>(random() % (elements * 100));
        optimist::atomically([&] {
          // Move the element at or after `target` (or the first one) to a free key nearby.
          std::optional<entry> from = map.lower_bound(target);
          if (!from) from = map.first();
          long to = from->first + 1 + static_cast<long>(random() % 7);
          while (map.contains(to)) ++to;
          EXPECT_EQ(map.erase(from->first), 1u);
          EXPECT_TRUE(map.insert({to, from->second}));
        });
      }
      movers_left.fetch_sub(1);
    });
  }
  EXPECT_EQ(bad_audits.load(), 0) << "an auditor saw the map unsorted, incomplete or not conserved";
  EXPECT_GT(audits.load(), 0);
  EXPECT_EQ(map.size(), static_cast<std::size_t>(elements));
  long sum = 0;
  for (const auto& [k, v] : map.snapshot()) sum += v;
  EXPECT_EQ(sum, value_total);
}

INSTANTIATE_TEST_SUITE_P(Threads, TsortedMapConcurrentTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace tsorted_map_test
