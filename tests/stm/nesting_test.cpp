// Closed nesting: a nested atomic block that throws is rolled back alone —
// its writes, its allocations (destroyed at once) and its deletions (never
// carried out) — while its parent's writes before and after it, and the
// effects of sibling blocks that committed, all commit with the outermost
// block. Checked on several levels, and with write logs large enough to use
// the log's hash index.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/optimist.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace nesting_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

// Counts live instances; `owner` says which thread made it, so that threads
// running at once each count only their own.
constexpr int max_threads = 8;
std::atomic<long> g_live[max_threads];

struct tracked {
  explicit tracked(int owner_thread, long v = 0) : owner(owner_thread), value(v) {
    g_live[owner].fetch_add(1);
  }
  ~tracked() { g_live[owner].fetch_sub(1); }
  tracked(const tracked&) = delete;
  tracked& operator=(const tracked&) = delete;
  int owner;
  long value;
};

struct level_failure {
  int level;
};

class NestingTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    for (auto& n : g_live) n.store(0);
  }
  void TearDown() override {
    optimist::detail::reclaim_now();
    for (int i = 0; i < max_threads; ++i) {
      EXPECT_EQ(g_live[i].load(), 0) << "objects of thread " << i << " were never destroyed";
    }
  }
};

TEST_P(NestingTest, ThreeLevelsEachRolledBackAlone) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> a{0}, b{0}, c{0}, d{0}, e{0};
    long level2_saw_a_after = -1, level2_saw_c_after = -1;
    long level1_saw_b = -1, level1_saw_d = -1, level1_saw_e = -1;

    optimist::atomically([&] {  // level 1
      a.set(1);
      optimist::atomically([&] {  // level 2: commits into level 1
        b.set(2);
        try {
          optimist::atomically([&] {  // level 3: rolled back
            c.set(3);
            a.set(30);
            b.set(20);
            throw level_failure{3};
          });
        } catch (const level_failure& f) {
          EXPECT_EQ(f.level, 3);
        }
        level2_saw_a_after = a.get();
        level2_saw_c_after = c.get();
        EXPECT_EQ(b.get(), 2);
        d.set(4);
      });
      level1_saw_b = b.get();
      level1_saw_d = d.get();
      try {
        optimist::atomically([&] {  // a second level 2: rolled back
          e.set(5);
          d.set(40);
          throw level_failure{2};
        });
      } catch (const level_failure& f) {
        EXPECT_EQ(f.level, 2);
      }
      level1_saw_e = e.get();
      EXPECT_EQ(d.get(), 4);
    });

    EXPECT_EQ(level2_saw_a_after, 1);
    EXPECT_EQ(level2_saw_c_after, 0);
    EXPECT_EQ(level1_saw_b, 2);
    EXPECT_EQ(level1_saw_d, 4);
    EXPECT_EQ(level1_saw_e, 0);
    EXPECT_EQ(a.get(), 1);
    EXPECT_EQ(b.get(), 2);
    EXPECT_EQ(c.get(), 0);
    EXPECT_EQ(d.get(), 4);
    EXPECT_EQ(e.get(), 0);
  });
}

// Levels 1..depth; each writes own[k] and `shared`, opens the next level, and
// after it returns (or throws) checks what it sees. Level `thrower` throws at
// its end, so it and everything it opened are rolled back; its parent catches.
void run_level(int k, int depth, int thrower,
               std::vector<std::unique_ptr<optimist::tvar<long>>>& own,
               optimist::tvar<long>& shared, long& mismatches) {
  own[static_cast<std::size_t>(k)]->set(k);
  shared.set(k);
  if (k < depth) {
    try {
      optimist::atomically([&] { run_level(k + 1, depth, thrower, own, shared, mismatches); });
      // The child committed into us: the deepest surviving level wrote last.
      if (shared.get() != (thrower > k + 1 ? thrower - 1 : depth)) ++mismatches;
    } catch (const level_failure& f) {
      if (f.level != k + 1) ++mismatches;
      if (shared.get() != k) ++mismatches;  // our own write is back
      for (int j = k + 1; j <= depth; ++j) {
        if (own[static_cast<std::size_t>(j)]->get() != 0) ++mismatches;
      }
    }
  }
  if (k == thrower) throw level_failure{k};
}

TEST_P(NestingTest, DeepNestingRollsBackFromTheThrowingLevelDown) {
  constexpr int depth = 12;
  run_threads(GetParam(), [](int) {
    for (long round = 0; round < scaled(20); ++round) {
      for (int thrower = 2; thrower <= depth + 1; ++thrower) {  // depth + 1: nobody throws
        std::vector<std::unique_ptr<optimist::tvar<long>>> own;
        for (int k = 0; k <= depth; ++k) own.push_back(std::make_unique<optimist::tvar<long>>(0));
        optimist::tvar<long> shared{0};
        long mismatches = 0;

        optimist::atomically([&] {
          mismatches = 0;
          run_level(1, depth, thrower, own, shared, mismatches);
        });

        EXPECT_EQ(mismatches, 0) << "thrower " << thrower;
        for (int k = 1; k <= depth; ++k) {
          EXPECT_EQ(own[static_cast<std::size_t>(k)]->get(), k < thrower ? k : 0)
              << "level " << k << " with level " << thrower << " throwing";
        }
        EXPECT_EQ(shared.get(), thrower - 1);
        if (::testing::Test::HasFailure()) return;
      }
    }
  });
}

TEST_P(NestingTest, AllocationsOfARolledBackBlockAreDestroyedAtTheEndOthersKept) {
  run_threads(GetParam(), [](int index) {
    std::atomic<long>& live = g_live[index];
    optimist::tvar<tracked*> kept_outer{nullptr};
    optimist::tvar<tracked*> kept_inner{nullptr};
    optimist::tvar<tracked*> lost{nullptr};
    long live_after_inner_rollback = -1;

    optimist::atomically([&] {
      kept_outer.set(optimist::tx_new<tracked>(index, 1));
      optimist::atomically([&] { kept_inner.set(optimist::tx_new<tracked>(index, 2)); });
      try {
        optimist::atomically([&] {
          lost.set(optimist::tx_new<tracked>(index, 3));
          optimist::tx_new<tracked>(index, 4);  // never even published
          optimist::atomically([&] { optimist::tx_new<tracked>(index, 5); });  // committed
                                                                               // into a loser
          throw level_failure{2};
        });
      } catch (const level_failure&) {
      }
      live_after_inner_rollback = live.load();
    });

    // Destructors never run inside a transaction: the rolled-back block's three
    // objects live until the outermost block ends, then go.
    EXPECT_EQ(live_after_inner_rollback, 5) << "a rolled-back block's objects were destroyed "
                                               "while the enclosing transaction still ran";
    EXPECT_EQ(live.load(), 2);
    ASSERT_NE(kept_outer.get(), nullptr);
    ASSERT_NE(kept_inner.get(), nullptr);
    EXPECT_EQ(kept_outer.get()->value, 1);
    EXPECT_EQ(kept_inner.get()->value, 2);
    EXPECT_EQ(lost.get(), nullptr);
    delete kept_outer.get();
    delete kept_inner.get();
    EXPECT_EQ(live.load(), 0);
  });
}

TEST_P(NestingTest, DeletionsOfARolledBackBlockAreNotCarriedOut) {
  run_threads(GetParam(), [](int index) {
    std::atomic<long>& live = g_live[index];
    optimist::tvar<tracked*> first{new tracked(index, 1)};
    optimist::tvar<tracked*> second{new tracked(index, 2)};

    optimist::atomically([&] {
      try {
        optimist::atomically([&] {
          optimist::tx_delete(first.get());
          first.set(nullptr);
          throw level_failure{2};
        });
      } catch (const level_failure&) {
      }
      optimist::tx_delete(second.get());  // this one does happen
      second.set(nullptr);
    });
    // Other threads' transactions may delay reclamation; they are short.
    for (int spin = 0; spin < 100000 && live.load() > 1; ++spin) {
      optimist::detail::reclaim_now();
      std::this_thread::yield();
    }

    ASSERT_NE(first.get(), nullptr);
    EXPECT_EQ(first.get()->value, 1);  // ASan: still allocated
    EXPECT_EQ(second.get(), nullptr);
    EXPECT_EQ(live.load(), 1) << "the committed tx_delete was not carried out, or the rolled-back "
                                 "one was";
    delete first.get();
  });
}

// Big logs: the outer block writes enough words for the hash index, the inner
// block overwrites all of them and adds as many new ones, then throws.
TEST_P(NestingTest, RollbackOfALargeNestedLogRestoresTheOuterLog) {
  run_threads(GetParam(), [](int) {
    constexpr std::size_t n = 200;
    std::vector<long> words(2 * n, -1);
    std::size_t wrong_inside = 0;
    optimist::atomically([&] {
      wrong_inside = 0;
      for (std::size_t i = 0; i < n; ++i) optimist::store(words[i], static_cast<long>(i));
      try {
        optimist::atomically([&] {
          for (std::size_t i = 0; i < 2 * n; ++i) optimist::store(words[i], 1000L);
          throw level_failure{2};
        });
      } catch (const level_failure&) {
      }
      for (std::size_t i = 0; i < 2 * n; ++i) {
        long expected = i < n ? static_cast<long>(i) : -1;
        if (optimist::load(words[i]) != expected) ++wrong_inside;
      }
      // And the log still works for new writes after the rollback.
      optimist::store(words[2 * n - 1], 77L);
      if (optimist::load(words[2 * n - 1]) != 77) ++wrong_inside;
    });
    EXPECT_EQ(wrong_inside, 0u);
    for (std::size_t i = 0; i + 1 < 2 * n; ++i) {
      ASSERT_EQ(words[i], i < n ? static_cast<long>(i) : -1) << "word " << i;
    }
    EXPECT_EQ(words[2 * n - 1], 77);
  });
}

// Nested blocks in transactions that really conflict: the nested rollback
// must also work in attempts that are later restarted, and a restart of the
// whole transaction from inside a nested block must undo the parent too.
TEST_P(NestingTest, NestedRollbackUnderContention) {
  const int threads = GetParam();
  const long rounds = scaled(5000);
  optimist::tvar<long> total{0};
  optimist::tvar<long> rolled_back_writes{0};
  run_threads(threads, [&](int) {
    for (long round = 0; round < rounds; ++round) {
      optimist::atomically([&] {
        const long seen = total.get();
        optimist::test::think(10);
        total.set(seen + 1);
        try {
          optimist::atomically([&] {
            total.set(total.get() + 100);
            rolled_back_writes.set(rolled_back_writes.get() + 1);
            throw level_failure{2};
          });
        } catch (const level_failure&) {
        }
        optimist::atomically([&] { total.set(total.get() + 1); });
      });
    }
  });
  EXPECT_EQ(total.get(), 2 * threads * rounds);
  EXPECT_EQ(rolled_back_writes.get(), 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, NestingTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace nesting_test
