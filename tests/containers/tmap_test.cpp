// optimist::tmap: the semantics of std::unordered_map, inside and outside
// transactions, under concurrency.
//
// Single-threaded runs replay random operations on a tmap and on a
// std::unordered_map and compare every result. Concurrent runs give each
// thread its own key range (so every result is still deterministic and is
// checked against the thread's own model as it goes, and the final map must
// equal the union of the models), or share keys and check invariants (no
// increment lost, each key inserted once, an element moved between two maps is
// always in exactly one of them).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
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
namespace tmap_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

template <class K, class V>
std::map<K, V> sorted(const std::vector<std::pair<K, V>>& items) {
  std::map<K, V> result;
  for (const auto& [k, v] : items) {
    EXPECT_TRUE(result.emplace(k, v).second) << "a key appears twice in the map";
  }
  return result;
}

template <class K, class V>
std::map<K, V> sorted(const std::unordered_map<K, V>& model) {
  return std::map<K, V>(model.begin(), model.end());
}

// One random operation on `map` and on `model`, results compared. Keys are
// drawn from [base, base + range).
void random_step(optimist::tmap<long, long>& map, std::unordered_map<long, long>& model,
                 std::mt19937_64& random, long base, long range) {
  const long key = base + static_cast<long>(random() % static_cast<std::uint64_t>(range));
  const long value = static_cast<long>(random() % 1000);
  switch (random() % 8) {
    case 0: {
      const bool inserted = map.insert({key, value});
      EXPECT_EQ(inserted, model.emplace(key, value).second) << "insert " << key;
      break;
    }
    case 1: {
      const bool inserted = map.insert_or_assign(key, value);
      EXPECT_EQ(inserted, model.insert_or_assign(key, value).second) << "insert_or_assign " << key;
      break;
    }
    case 2:
      EXPECT_EQ(map.erase(key), model.erase(key)) << "erase " << key;
      break;
    case 3: {
      const std::optional<long> found = map.find(key);
      const auto it = model.find(key);
      ASSERT_EQ(found.has_value(), it != model.end()) << "find " << key;
      if (found) {
        EXPECT_EQ(*found, it->second) << "find " << key;
      }
      break;
    }
    case 4:
      EXPECT_EQ(map.contains(key), model.contains(key)) << "contains " << key;
      break;
    case 5:
      EXPECT_EQ(map[key] += value, model[key] += value) << "operator[] += " << key;
      break;
    case 6: {
      const long seen = map[key];
      const auto it = model.find(key);
      EXPECT_EQ(seen, it == model.end() ? 0 : it->second) << "operator[] read " << key;
      break;
    }
    default:
      map[key] = value;
      model[key] = value;
      break;
  }
}

TEST(TmapTest, SingleThreadMatchesUnorderedMap) {
  optimist::tmap<long, long> map;
  std::unordered_map<long, long> model;
  std::mt19937_64 random(7);
  const std::size_t initial_buckets = map.bucket_count();
  for (long step = 0; step < scaled(40000); ++step) {
    random_step(map, model, random, 0, 4000);
    if (step % 1000 == 0) {
      ASSERT_EQ(map.size(), model.size());
      ASSERT_EQ(map.empty(), model.empty());
    }
  }
  EXPECT_EQ(map.size(), model.size());
  EXPECT_EQ(sorted(map.snapshot()), sorted(model));
  EXPECT_GT(map.bucket_count(), initial_buckets) << "thousands of keys and the table never grew";
  EXPECT_LE(map.size(), 2 * map.bucket_count()) << "load factor above 2 after growth";

  long sum = 0;
  std::size_t visited = 0;
  map.for_each([&](const long&, const long& v) {
    sum += v;
    ++visited;
  });
  long model_sum = 0;
  for (const auto& [k, v] : model) model_sum += v;
  EXPECT_EQ(visited, model.size());
  EXPECT_EQ(sum, model_sum);

  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_TRUE(map.snapshot().empty());
  EXPECT_FALSE(map.contains(1));
}

TEST(TmapTest, ProxyOperatorsAndStringKeys) {
  optimist::tmap<std::string, long> counts{{"one", 1}, {"two", 2}, {"one", 99}};
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.find("one"), 1) << "as in std::unordered_map, the first of two equal keys wins";
  EXPECT_FALSE(counts.insert({"one", 100}));
  EXPECT_EQ(counts.find("one"), 1);
  counts["one"] += 10;
  EXPECT_EQ(counts["one"].get(), 11);
  EXPECT_EQ(++counts["three"], 1) << "a compound assignment on an absent key starts from V{}";
  EXPECT_EQ(counts["three"]++, 1);
  EXPECT_EQ(counts["three"].get(), 2);
  EXPECT_EQ(counts["two"] *= 5, 10);
  EXPECT_EQ(counts["two"] -= 4, 6);
  EXPECT_EQ(counts["two"] /= 3, 2);
  counts["four"] = counts["one"];
  EXPECT_EQ(counts.find("four"), 11);
  const long absent = counts["absent"];
  EXPECT_EQ(absent, 0);
  EXPECT_FALSE(counts.contains("absent")) << "reading through operator[] must not insert";
  EXPECT_EQ(counts.update("one", [](const long& v) { return v * 2; }), 22);
  EXPECT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts.erase("one"), 1u);
  EXPECT_EQ(counts.erase("one"), 0u);
  EXPECT_EQ(counts.find("one"), std::nullopt);
}

// for_each may erase the element it visits (the node stays readable until the commit).
TEST(TmapTest, ForEachMayEraseWhatItVisits) {
  optimist::tmap<long, long> map;
  for (long k = 0; k < 500; ++k) map.insert({k, k});
  long visited = 0;
  map.for_each([&](const long& k, const long& v) {
    EXPECT_EQ(k, v);
    ++visited;
    if (k % 2 == 1) {
      EXPECT_EQ(map.erase(k), 1u);
    }
  });
  EXPECT_EQ(visited, 500);
  EXPECT_EQ(map.size(), 250u);
  for (const auto& [k, v] : map.snapshot()) {
    EXPECT_EQ(k % 2, 0) << k;
  }
}

// for_each's f may erase other elements too, also the ones after the visited one in its
// chain: the walk never gives f an element that is no longer in the map. (An unlinked node
// keeps its link, and the walk used to follow it: with f erasing k and k + 1, f was handed
// every key, erased or not, and after a clear() the rest of the chain.) One bucket holds every
// key here, so each erased successor is in the visited node's chain.
struct one_bucket_hash {
  std::size_t operator()(long) const noexcept { return 0; }
};

TEST(TmapTest, ForEachNeverVisitsWhatFErased) {
  optimist::tmap<long, long, one_bucket_hash> map;
  for (long k = 0; k < 10; ++k) map.insert({k, k});
  std::vector<long> visited;
  map.for_each([&](const long& k, const long& v) {
    EXPECT_EQ(k, v);
    visited.push_back(k);
    map.erase(k);
    map.erase(k + 1);
  });
  EXPECT_EQ(visited, (std::vector<long>{0, 2, 4, 6, 8}));
  EXPECT_EQ(map.size(), 0u);

  for (long k = 0; k < 10; ++k) map.insert({k, k});
  visited.clear();
  map.for_each([&](const long& k, const long&) {
    visited.push_back(k);
    map.clear();
  });
  EXPECT_EQ(visited.size(), 1u);
  EXPECT_TRUE(map.empty());

  optimist::tset<long, one_bucket_hash> set;
  for (long k = 0; k < 10; ++k) set.insert(k);
  visited.clear();
  set.for_each([&](const long& k) {
    visited.push_back(k);
    set.erase(k);
    set.erase(k + 1);
  });
  EXPECT_EQ(visited, (std::vector<long>{0, 2, 4, 6, 8}));
  EXPECT_TRUE(set.empty());
}

// update(k, f) with an f that changes the map itself: f's inserts and erases stay, even of the
// same key, and the table may grow under it; the value written is f's result. (The update used
// to write where the key had been before f ran: f's insert of key 16 was lost when the table
// grew, size() kept counting a key f had re-inserted, and a key f erased stayed erased.)
TEST(TmapTest, UpdateWhoseFunctionChangesTheMapKeepsEveryChange) {
  optimist::tmap<long, long> grows(1);
  EXPECT_EQ(grows.update(0,
                         [&](long v) {
                           for (long i = 1; i <= 300; ++i) grows.insert({i, i});
                           return v + 5;
                         }),
            5);
  EXPECT_GT(grows.bucket_count(), optimist::detail::containers::default_bucket_count);
  EXPECT_EQ(grows.size(), 301u);
  EXPECT_EQ(grows.snapshot().size(), 301u);
  EXPECT_EQ(grows.find(0), 5);
  EXPECT_EQ(grows.find(300), 300);

  optimist::tmap<long, long> same_key;
  EXPECT_EQ(same_key.update(5,
                            [&](long v) {
                              EXPECT_TRUE(same_key.insert({5, 100}));
                              return v + 1;
                            }),
            1);
  EXPECT_EQ(same_key.find(5), 1) << "f's result is written over f's own insert";
  EXPECT_EQ(same_key.size(), 1u);
  EXPECT_EQ(same_key.erase(5), 1u);
  EXPECT_TRUE(same_key.empty()) << "the size counted the key once";

  optimist::tmap<long, long> erased{{0, 10}};
  EXPECT_EQ(erased.update(0,
                          [&](long v) {
                            EXPECT_EQ(erased.erase(0), 1u);
                            return v + 1;
                          }),
            11);
  EXPECT_EQ(erased.find(0), 11) << "the update re-inserts the key f erased";
  EXPECT_EQ(erased.size(), 1u);
}

// for_each's f must not insert: an insert that grows the table would reorder the walk (keys
// skipped without a word). That is now a std::logic_error, and the walk's transaction rolls back.
TEST(TmapTest, ForEachWhoseFunctionGrowsTheTableThrows) {
  optimist::tmap<long, long> map(1);
  for (long k = 0; k < 64; ++k) map.insert({k, k});
  const std::size_t buckets = map.bucket_count();
  long next = 1000;
  try {
    map.for_each([&](long, long) { map.insert({next++, 0}); });
    ADD_FAILURE() << "for_each let f grow the table";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("tmap::for_each: f inserted into the container"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(map.size(), 64u) << "the walk's inserts were rolled back";
  EXPECT_EQ(map.bucket_count(), buckets);
}

// Every operation inside one transaction sees the transaction's own earlier
// operations; insert and erase of the same node in one transaction, and a
// growth of the table in the middle of it, are fine.
TEST(TmapTest, OperationsComposeInsideOneTransaction) {
  optimist::tmap<long, long> map;
  optimist::atomically([&] {
    for (long k = 0; k < 1000; ++k) EXPECT_TRUE(map.insert({k, k * k}));
    EXPECT_EQ(map.size(), 1000u);
    for (long k = 0; k < 1000; k += 2) EXPECT_EQ(map.erase(k), 1u);
    EXPECT_EQ(map.find(3), 9);
    EXPECT_FALSE(map.contains(4));
    map[3] += 1;
    EXPECT_EQ(map.find(3), 10);
  });
  EXPECT_EQ(map.size(), 500u);
  EXPECT_GE(map.bucket_count(), 256u);
  for (long k = 0; k < 1000; ++k) {
    EXPECT_EQ(map.contains(k), k % 2 == 1) << k;
  }
}

// A transaction that does several operations and then throws leaves no trace
// (growth of the bucket array included); a nested block that throws undoes
// only its own operations.
TEST(TmapTest, ThrowingTransactionLeavesNoTrace) {
  optimist::tmap<long, long> map;
  for (long k = 0; k < 50; ++k) map.insert({k, k});
  const auto before = sorted(map.snapshot());
  const std::size_t buckets = map.bucket_count();

  EXPECT_THROW(optimist::atomically([&] {
                 for (long k = 50; k < 2000; ++k) map.insert({k, -k});
                 map.erase(7);
                 map[8] += 100;
                 map.insert_or_assign(9, 900);
                 map.clear();
                 map.insert({1, 1234});
                 throw std::runtime_error("changed my mind");
               }),
               std::runtime_error);
  EXPECT_EQ(sorted(map.snapshot()), before);
  EXPECT_EQ(map.size(), 50u);
  EXPECT_EQ(map.bucket_count(), buckets);

  optimist::atomically([&] {
    map.erase(1);
    try {
      optimist::atomically([&] {
        map.erase(2);
        map[3] = 333;
        throw std::runtime_error("inner");
      });
    } catch (const std::runtime_error&) {
    }
  });
  EXPECT_FALSE(map.contains(1));
  EXPECT_EQ(map.find(2), 2);
  EXPECT_EQ(map.find(3), 3);
  EXPECT_EQ(map.size(), 49u);
}

// A throwing hash leaves the map as it was, inside or outside a transaction.
struct picky_hash {
  std::size_t operator()(long k) const {
    if (k < 0) throw std::invalid_argument("negative key");
    return std::hash<long>()(k);
  }
};

TEST(TmapTest, ThrowingHashLeavesMapUnchanged) {
  optimist::tmap<long, long, picky_hash> map;
  map.insert({1, 1});
  EXPECT_THROW(map.insert({-1, 1}), std::invalid_argument);
  EXPECT_THROW(optimist::atomically([&] {
                 map.insert({2, 2});
                 map[-5] += 1;
               }),
               std::invalid_argument);
  EXPECT_EQ(map.size(), 1u);
  EXPECT_FALSE(map.contains(2));
}

// Two keys whose buckets differ and whose size stripes differ, in a table of `buckets` buckets.
std::pair<long, long> independent_keys(std::size_t buckets) {
  using optimist::detail::containers::mix_hash;
  const auto hash = [](long k) { return mix_hash(std::hash<long>()(k)); };
  for (long b = 1;; ++b) {
    if ((hash(0) & (buckets - 1)) != (hash(b) & (buckets - 1)) &&
        (hash(0) & 63) != (hash(b) & 63)) {
      return {0, b};
    }
  }
}

// Operations on keys in different buckets and stripes touch disjoint words: one commits in
// the middle of the other's transaction without aborting it. The same key does conflict.
TEST(TmapTest, DifferentKeysDoNotConflict) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("conflicts staged between threads");
  optimist::tmap<long, long> map(1024);
  for (long k = 100; k < 400; ++k) map.insert({k, k});
  ASSERT_EQ(map.bucket_count(), 1024u);
  // Plain copies: lambdas capture them (clang 14 cannot capture structured bindings).
  const auto keys = independent_keys(1024);
  const long a = keys.first, b = keys.second;
  using optimist::test::attempts_around;
  EXPECT_EQ(attempts_around([&] { (void)map.find(a); }, [&] { map.insert({b, 1}); }), 1);
  EXPECT_EQ(attempts_around([&] { map.insert({a, 1}); }, [&] { map.erase(b); }), 1);
  EXPECT_EQ(attempts_around([&] { map[a] += 1; }, [&] { map[b] += 1; }), 1);
  EXPECT_EQ(attempts_around([&] { map.erase(a); }, [&] { map.insert_or_assign(b, 7); }), 1);
  EXPECT_EQ(map.bucket_count(), 1024u) << "a growth would have conflicted with everything";
  // The control: the same key conflicts.
  EXPECT_EQ(attempts_around([&] { (void)map.find(a); }, [&] { map.insert_or_assign(a, 5); }), 2);
  EXPECT_EQ(attempts_around([&] { map[b] += 1; }, [&] { map[b] += 1; }), 2);
  EXPECT_EQ(map.find(b), 9)
      << "7, +1 by the other thread, +1 by the re-run (the first run's is gone)";
}

class TmapConcurrentTest : public ::testing::TestWithParam<int> {};

// Each thread owns the keys [index * range, (index + 1) * range): its
// operations' results are deterministic and checked against its own model as
// it goes; afterwards the map equals the union of the models. The table starts
// at the minimum size, so it grows while the threads run.
TEST_P(TmapConcurrentTest, DisjointKeyRangesMatchPerThreadModels) {
  const int threads = GetParam();
  const long range = 2000;
  const long steps = scaled(15000);
  optimist::tmap<long, long> map;
  std::vector<std::unordered_map<long, long>> models(static_cast<std::size_t>(threads));

  optimist::reset_stats();
  {
    optimist::test::watchdog guard("random tmap operations on disjoint key ranges");
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
  EXPECT_EQ(sorted(map.snapshot()), expected);
  EXPECT_EQ(map.size(), expected.size());
  EXPECT_GT(map.bucket_count(), optimist::detail::containers::default_bucket_count)
      << "thousands of keys and the table never grew";
}

// All threads increment and occasionally erase the same few keys: at the end
// the counts plus what the erasers took out equal the increments made.
TEST_P(TmapConcurrentTest, SharedKeyIncrementsAreNeverLost) {
  const int threads = GetParam();
  const long increments = scaled(20000);
  const long keys = 16;
  optimist::tmap<long, long> counts;
  std::atomic<long> erased_total{0};

  {
    optimist::test::watchdog guard("incrementing shared tmap keys");
    run_threads(threads, [&](int index) {
      std::mt19937_64 random(static_cast<std::uint64_t>(index) + 11);
      for (long i = 0; i < increments; ++i) {
        const long key = static_cast<long>(random() % keys);
        if (i % 97 == 0) {
          // Take a key's count out and remember it, atomically.
          const long taken = optimist::atomically([&] {
            const long c = counts.find(key).value_or(0);
            counts.erase(key);
            return c;
          });
          erased_total.fetch_add(taken);
        }
        if (i % 5 == 0) {
          // Either path counts one: the insert of a fresh key or the increment.
          optimist::atomically([&] {
            if (!counts.insert({key, 1})) {
              optimist::test::think(5);
              counts[key] += 1;
            }
          });
        } else {
          counts[key] += 1;
        }
      }
    });
  }
  long total = erased_total.load();
  for (const auto& [k, v] : counts.snapshot()) total += v;
  EXPECT_EQ(total, threads * increments);
  EXPECT_LE(counts.size(), static_cast<std::size_t>(keys));
}

// Concurrent inserts of the same keys: each key is inserted exactly once over
// all threads (insert() reports true once), the others see it present.
TEST_P(TmapConcurrentTest, EachKeyIsInsertedOnce) {
  const int threads = GetParam();
  const long keys = scaled(5000);
  optimist::tmap<long, int> map;
  std::vector<std::vector<long>> won(static_cast<std::size_t>(threads));
  {
    optimist::test::watchdog guard("inserting the same keys from every thread");
    run_threads(threads, [&](int index) {
      std::mt19937_64 random(static_cast<std::uint64_t>(index) * 31 + 1);
      std::vector<long> order(static_cast<std::size_t>(keys));
      for (long k = 0; k < keys; ++k) order[static_cast<std::size_t>(k)] = k;
      std::shuffle(order.begin(), order.end(), random);
      for (long k : order) {
        if (map.insert({k, index})) won[static_cast<std::size_t>(index)].push_back(k);
      }
    });
  }
  std::vector<int> winners(static_cast<std::size_t>(keys), 0);
  for (int t = 0; t < threads; ++t) {
    for (long k : won[static_cast<std::size_t>(t)]) {
      ++winners[static_cast<std::size_t>(k)];
      EXPECT_EQ(map.find(k), t) << "key " << k << " holds another thread's value";
    }
  }
  for (long k = 0; k < keys; ++k) EXPECT_EQ(winners[static_cast<std::size_t>(k)], 1) << k;
  EXPECT_EQ(map.size(), static_cast<std::size_t>(keys));
}

// Elements move between two maps in one transaction each; auditors check in
// every attempt that each key is in exactly one map with its value, and that
// the sizes add up.
TEST_P(TmapConcurrentTest, MovesBetweenMapsAreAtomic) {
  const int threads = GetParam();
  const long keys = 64;
  const long moves = scaled(10000);
  optimist::tmap<long, long> left;
  optimist::tmap<long, long> right;
  for (long k = 0; k < keys; ++k) left.insert({k, 1000 + k});
  std::atomic<long> bad_audits{0};
  std::atomic<long> audits{0};

  {
    optimist::test::watchdog guard("moving elements between two tmaps");
    run_threads(threads + 1, [&](int index) {
      if (index == threads) {
        // The auditor.
        for (long round = 0; round < moves / 20; ++round) {
          optimist::atomically([&] {
            bool ok = left.size() + right.size() == static_cast<std::size_t>(keys);
            for (long k = 0; k < keys && ok; ++k) {
              const std::optional<long> l = left.find(k);
              const std::optional<long> r = right.find(k);
              ok = l.has_value() != r.has_value() && l.value_or(r.value_or(-1)) == 1000 + k;
            }
            if (!ok) bad_audits.fetch_add(1);
          });
          audits.fetch_add(1);
        }
        return;
      }
      std::mt19937_64 random(static_cast<std::uint64_t>(index) + 77);
      for (long i = 0; i < moves; ++i) {
        const long k = static_cast<long>(random() % keys);
        optimist::atomically([&] {
          optimist::tmap<long, long>& from = left.contains(k) ? left : right;
          optimist::tmap<long, long>& to = &from == &left ? right : left;
          const long v = *from.find(k);
          EXPECT_EQ(from.erase(k), 1u);
          optimist::test::think(5);
          EXPECT_TRUE(to.insert({k, v}));
        });
      }
    });
  }
  EXPECT_EQ(bad_audits.load(), 0) << "an auditor saw a key in both maps or in neither";
  EXPECT_GT(audits.load(), 0);
  EXPECT_EQ(left.size() + right.size(), static_cast<std::size_t>(keys));
  for (long k = 0; k < keys; ++k) {
    EXPECT_NE(left.contains(k), right.contains(k)) << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, TmapConcurrentTest, ::testing::Values(1, 2, 4));

#if OPTIMIST_TEST_HEAP_BYTES
// Bytes held by a tmap<long, long> of n keys inserted one per transaction,
// measured before it is destroyed; `buckets`: its initial bucket count, and
// its final one on return.
std::size_t bytes_held_by_a_map_of(long n, std::size_t& buckets) {
  optimist::detail::reclaim_now();  // nothing an earlier map retired is freed meanwhile
  const std::size_t before = optimist::test::heap_bytes_in_use();
  optimist::tmap<long, long> map(buckets);
  for (long k = 0; k < n; ++k) map.insert({k, k});
  const std::size_t held = optimist::test::heap_bytes_in_use() - before;
  EXPECT_EQ(map.size(), static_cast<std::size_t>(n));
  buckets = map.bucket_count();
  return held;
}

// A growing map's replaced bucket arrays are freed while it grows (stm mode:
// they go to epoch-based reclamation): it holds about what a map sized for
// its keys from the start holds. Their deletion counts the array, not its
// header. Before, they stayed until the thread had deleted 256 more
// objects: as much again as the live array (8 MiB for 2^20 keys).
TEST(TmapTest, ReplacedBucketArraysAreFreedAsTheMapGrows) {
  const optimist::execution_mode mode = optimist::execution_mode_now();
  optimist::set_execution_mode(optimist::execution_mode::stm);
  const long n = 1L << 20;
  // First a map that grows, for this thread's transaction logs: they stay at
  // the size of its largest rehash (which reads every bucket).
  std::size_t buckets = 0;
  (void)bytes_held_by_a_map_of(n, buckets);
  buckets = 0;
  const std::size_t grown = bytes_held_by_a_map_of(n, buckets);
  const std::size_t sized = bytes_held_by_a_map_of(n, buckets);  // never grows
  optimist::set_execution_mode(mode);
  const std::size_t array = buckets * sizeof(optimist::tvar<void*>);
  EXPECT_GE(sized, array + static_cast<std::size_t>(n) * 16) << "the map is not counted: no test";
  // The last array replaced (its reader may still be pinned) and slack.
  EXPECT_LE(grown, sized + array / 2 + (std::size_t{1} << 20))
      << "a grown map held " << grown << " B, one sized from the start " << sized << " B ("
      << buckets << " buckets)";
}
#endif

}  // namespace

}  // namespace tmap_test
