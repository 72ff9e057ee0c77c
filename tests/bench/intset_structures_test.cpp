// The integer-set structures of bench/intset/ (red-black tree, hash set, sorted list).
//
// - Under the sequential policy every operation answers as std::set does, and the structure
//   stays valid (validate(): red-black invariants, order, buckets) through random inserts and
//   erases.
// - Under the optimist policy, with 1, 2 and 4 threads updating at once (each thread its own
//   keys, key % threads == thread, plus lookups of everybody's keys), every thread's operations
//   answer as its own std::set does, and afterwards the structure is valid and holds exactly the
//   union of the threads' sets. Rebalancing makes threads with disjoint keys write the same
//   nodes, so a lost or torn update shows up as a broken tree or a wrong answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "../../bench/common/access.hpp"
#include "../../bench/common/xorshift.hpp"
#include "../../bench/intset/hash_set.hpp"
#include "../../bench/intset/rbtree.hpp"
#include "../../bench/intset/sorted_list.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace intset_structures_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

// The three structures behind one interface (the tree as a set: value = key).
template <class Access>
class tree_set {
 public:
  bool contains(long key) const { return tree_.contains(key); }
  bool insert(long key) { return tree_.insert(key, key); }
  bool erase(long key) { return tree_.erase(key); }
  std::string validate() const { return tree_.validate(); }
  std::vector<long> keys() const {
    std::vector<long> out;
    tree_.for_each([&out](long key, long value) {
      out.push_back(key);
      EXPECT_EQ(key, value);
    });
    return out;
  }

 private:
  bench::rbtree<long, long, Access> tree_;
};

template <class Access>
class hashed_set : public bench::hash_set<Access> {
 public:
  hashed_set() : bench::hash_set<Access>(512) {}
  std::vector<long> keys() const {
    std::vector<long> out;
    this->for_each([&out](long key) { out.push_back(key); });
    std::sort(out.begin(), out.end());
    return out;
  }
};

template <class Access>
class list_set : public bench::sorted_list<Access> {
 public:
  std::vector<long> keys() const {
    std::vector<long> out;
    this->for_each([&out](long key) { out.push_back(key); });
    return out;
  }
};

template <class Set>
void check_against_std_set() {
  Set set;
  std::set<long> expected;
  bench::xorshift_rng rng(7);
  const long operations = scaled(20'000);
  for (long i = 0; i < operations; ++i) {
    const long key = static_cast<long>(rng.below(600));
    switch (rng.below(3)) {
      case 0:
        ASSERT_EQ(set.insert(key), expected.insert(key).second) << "insert " << key;
        break;
      case 1:
        ASSERT_EQ(set.erase(key), expected.erase(key) == 1) << "erase " << key;
        break;
      default:
        ASSERT_EQ(set.contains(key), expected.count(key) == 1) << "contains " << key;
    }
    if (i % 500 == 0) {
      ASSERT_EQ(set.validate(), "") << "after " << i << " operations";
    }
  }
  EXPECT_EQ(set.validate(), "");
  EXPECT_EQ(set.keys(), std::vector<long>(expected.begin(), expected.end()));
}

TEST(IntsetSequential, RedBlackTreeAnswersAsStdSet) {
  check_against_std_set<tree_set<bench::sequential_access>>();
}
TEST(IntsetSequential, HashSetAnswersAsStdSet) {
  check_against_std_set<hashed_set<bench::sequential_access>>();
}
TEST(IntsetSequential, SortedListAnswersAsStdSet) {
  check_against_std_set<list_set<bench::sequential_access>>();
}

// Ascending and descending runs are the classic rebalancing stress: every insert rotates.
TEST(IntsetSequential, RedBlackTreeStaysBalancedOnSortedInput) {
  tree_set<bench::sequential_access> set;
  for (long key = 0; key < 1000; ++key) ASSERT_TRUE(set.insert(key));
  for (long key = 1999; key >= 1000; --key) ASSERT_TRUE(set.insert(key));
  EXPECT_EQ(set.validate(), "");
  for (long key = 0; key < 2000; key += 2) ASSERT_TRUE(set.erase(key));
  EXPECT_EQ(set.validate(), "");
  EXPECT_EQ(set.keys().size(), 1000u);
}

class IntsetConcurrent : public ::testing::TestWithParam<int> {};

template <class Set>
void check_concurrent(int threads) {
  using access = bench::optimist_access;
  Set set;
  const long range = 256L * threads;
  for (long key = 0; key < range; key += 2) access::atomic([&] { set.insert(key); });
  std::vector<std::set<long>> own(static_cast<std::size_t>(threads));
  for (long key = 0; key < range; key += 2)
    own[static_cast<std::size_t>(key % threads)].insert(key);

  const long operations = scaled(3'000);
  run_threads(threads, [&](int index) {
    std::set<long>& mine = own[static_cast<std::size_t>(index)];
    bench::xorshift_rng rng(static_cast<std::uint64_t>(index) + 100);
    for (long i = 0; i < operations; ++i) {
      const std::uint64_t op = rng.below(10);
      if (op < 3) {
        // Everybody's keys: only whether the transaction sees a consistent structure matters.
        const long key = static_cast<long>(rng.below(static_cast<std::uint64_t>(range)));
        access::atomic([&] { return set.contains(key); });
        continue;
      }
      const long key =
          static_cast<long>(rng.below(static_cast<std::uint64_t>(range / threads))) * threads +
          index;
      if (op < 6) {
        const bool inserted = access::atomic([&] { return set.insert(key); });
        ASSERT_EQ(inserted, mine.insert(key).second) << "thread " << index << " insert " << key;
      } else if (op < 9) {
        const bool erased = access::atomic([&] { return set.erase(key); });
        ASSERT_EQ(erased, mine.erase(key) == 1) << "thread " << index << " erase " << key;
      } else {
        const bool found = access::atomic([&] { return set.contains(key); });
        ASSERT_EQ(found, mine.count(key) == 1) << "thread " << index << " contains " << key;
      }
    }
  });
  EXPECT_EQ(set.validate(), "");
  std::set<long> expected;
  for (const auto& s : own) expected.insert(s.begin(), s.end());
  EXPECT_EQ(set.keys(), std::vector<long>(expected.begin(), expected.end()));
}

TEST_P(IntsetConcurrent, RedBlackTree) {
  check_concurrent<tree_set<bench::optimist_access>>(GetParam());
}
TEST_P(IntsetConcurrent, HashSet) {
  check_concurrent<hashed_set<bench::optimist_access>>(GetParam());
}
TEST_P(IntsetConcurrent, SortedList) {
  check_concurrent<list_set<bench::optimist_access>>(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Threads, IntsetConcurrent, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace intset_structures_test
