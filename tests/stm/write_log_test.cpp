// The redo log (runtime/stm/write_log.hpp) against a reference model: every
// lookup answers what the transaction wrote, whatever the log's size — small
// (scanned), past linear_limit (indexed), through several growths of the
// index — across nested blocks rolled back or closed, across clears (each
// clear empties the index by moving to a new generation, including the
// generation's wrap-around), and with words chosen to share Bloom filter bits
// and index slots. Then the same through atomic blocks: many writes re-read,
// a nested block that throws after overwriting outer words.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "optimist/optimist.hpp"
#include "stm/write_log.hpp"
#include "support/stress.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace write_log_test {

namespace {

using optimist::detail::write_entry;
using optimist::detail::write_log;

struct cell {
  std::uint64_t value = 0;
  std::uint64_t mask = 0;
};
using model = std::map<std::uintptr_t, cell>;

// Word addresses (multiples of 8; never dereferenced). `stride` 512 maps every
// word to the same Bloom bit, so only the scan or the index can tell them apart.
std::vector<std::uintptr_t> word_pool(std::size_t n, std::uintptr_t stride) {
  std::vector<std::uintptr_t> words;
  for (std::size_t i = 0; i < n; ++i) words.push_back(0x10000000 + i * stride);
  return words;
}

std::uint64_t random_mask(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return 0xffull << (8 * (rng() % 8));  // one byte
    case 1:
      return 0xffffffffull << (32 * (rng() % 2));  // half a word
    default:
      return ~std::uint64_t{0};
  }
}

void put(write_log& log, model& m, std::uintptr_t word, std::uint64_t value, std::uint64_t mask) {
  log.put(word, value, mask, {});
  cell& c = m[word];
  c.value = (c.value & ~mask) | (value & mask);
  c.mask |= mask;
}

// Every word of `pool` is found exactly as the model says, and the log holds
// one entry per written word.
void expect_matches(const write_log& log, const model& m, const std::vector<std::uintptr_t>& pool,
                    const char* when) {
  ASSERT_EQ(log.size(), m.size()) << when;
  ASSERT_EQ(log.empty(), m.empty()) << when;
  std::set<std::uintptr_t> seen;
  for (const write_entry& e : log) {
    ASSERT_TRUE(seen.insert(e.word).second) << when << ": two entries for one word";
    ASSERT_EQ(m.count(e.word), 1u) << when << ": entry for a word never written";
  }
  for (std::uintptr_t w : pool) {
    const write_entry* e = log.find(w);
    auto it = m.find(w);
    if (it == m.end()) {
      ASSERT_EQ(e, nullptr) << when << ": found a word not written, " << std::hex << w;
    } else {
      ASSERT_NE(e, nullptr) << when << ": lost a written word, " << std::hex << w;
      ASSERT_EQ(e->word, w) << when;
      ASSERT_EQ(e->value, it->second.value) << when;
      ASSERT_EQ(e->mask, it->second.mask) << when;
      ASSERT_TRUE(log.may_contain(w)) << when;
    }
  }
}

// Random puts, lookups, nested levels (closed or rolled back) and clears over
// a pool of `pool_size` words, checked after every step.
void random_run(std::size_t pool_size, std::uintptr_t stride, unsigned seed, int steps) {
  std::mt19937_64 rng(seed);
  std::vector<std::uintptr_t> pool = word_pool(pool_size, stride);
  write_log log;
  model m;
  std::vector<std::pair<write_log::mark, model>> levels;  // open nested levels
  for (int step = 0; step < steps; ++step) {
    unsigned op = static_cast<unsigned>(rng() % 100);
    if (op < 80) {
      // A burst of writes, to reach the larger sizes.
      unsigned burst = 1 + static_cast<unsigned>(rng() % (pool_size / 4 + 1));
      for (unsigned i = 0; i < burst; ++i) {
        put(log, m, pool[rng() % pool_size], rng(), random_mask(rng));
      }
    } else if (op < 88 && levels.size() < 4) {
      levels.push_back({log.open_nested(), m});
    } else if (op < 93 && !levels.empty()) {
      log.rollback_to(levels.back().first);
      m = std::move(levels.back().second);
      levels.pop_back();
    } else if (op < 97 && !levels.empty()) {
      log.close_nested(levels.back().first);
      levels.pop_back();
    } else if (op < 99 || levels.empty()) {
      if (levels.empty()) {
        log.clear();
        m.clear();
      }
    }
    expect_matches(log, m, pool, "random step");
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "pool " << pool_size << " stride " << stride << " seed " << seed << " step "
                    << step;
      return;
    }
  }
}

TEST(WriteLogTest, SmallLogsAreScannedAndLargeOnesIndexed) {
  write_log log;
  model m;
  std::vector<std::uintptr_t> pool = word_pool(4 * write_log::linear_limit, 8);
  for (std::size_t i = 0; i < write_log::linear_limit; ++i) put(log, m, pool[i], i, ~0ull);
  EXPECT_FALSE(log.indexed_for_testing());
  expect_matches(log, m, pool, "at linear_limit");
  put(log, m, pool[write_log::linear_limit], 99, ~0ull);
  EXPECT_TRUE(log.indexed_for_testing());
  expect_matches(log, m, pool, "one past linear_limit");
  log.clear();
  m.clear();
  EXPECT_FALSE(log.indexed_for_testing());
  expect_matches(log, m, pool, "after clear");
}

TEST(WriteLogTest, ManyWritesAndRewritesAreAllFound) {
  // Sizes around every threshold: the scan limit and the index's growths
  // (64 slots hold 32 entries, then 128, 256, ...).
  for (std::size_t n :
       {std::size_t{1}, write_log::linear_limit, write_log::linear_limit + 1, std::size_t{32},
        std::size_t{33}, std::size_t{65}, std::size_t{1000}, std::size_t{5000}}) {
    for (std::uintptr_t stride : {std::uintptr_t{8}, std::uintptr_t{512}, std::uintptr_t{4096}}) {
      write_log log;
      model m;
      std::vector<std::uintptr_t> pool = word_pool(n + 16, stride);  // 16 never written
      for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < n; ++i) {
          put(log, m, pool[i], (round + 1) * 1000 + i, round == 1 ? 0xff00ull : ~0ull);
        }
        expect_matches(log, m, pool, "after a round of rewrites");
        if (HasFatalFailure()) {
          ADD_FAILURE() << "n " << n << " stride " << stride;
          return;
        }
      }
      log.clear();
      m.clear();
      expect_matches(log, m, pool, "after clear");
      // The next transaction reuses the table: nothing of the last one shows.
      put(log, m, pool[n + 1], 7, ~0ull);
      expect_matches(log, m, pool, "reused after clear");
    }
  }
}

TEST(WriteLogTest, NestedRollbackRestoresTheOuterLogExactly) {
  for (std::size_t outer : {std::size_t{3}, std::size_t{8}, std::size_t{20}, std::size_t{100}}) {
    for (std::size_t inner : {std::size_t{1}, std::size_t{6}, std::size_t{40}, std::size_t{300}}) {
      write_log log;
      model m;
      std::vector<std::uintptr_t> pool = word_pool(outer + inner + 8, 512);
      for (std::size_t i = 0; i < outer; ++i) put(log, m, pool[i], i, ~0ull);
      const model before = m;
      write_log::mark mark = log.open_nested();
      // The inner level overwrites half the outer words (partial masks too)
      // and adds its own.
      for (std::size_t i = 0; i < outer; i += 2) put(log, m, pool[i], 0xdead, 0xffff);
      for (std::size_t i = 0; i < inner; ++i) put(log, m, pool[outer + i], 0xbeef, ~0ull);
      expect_matches(log, m, pool, "inside the nested level");
      log.rollback_to(mark);
      m = before;
      expect_matches(log, m, pool, "after the nested rollback");
      // The outer level goes on writing after the rollback.
      for (std::size_t i = 0; i < inner; ++i) put(log, m, pool[outer + i], 0xf00d + i, ~0ull);
      expect_matches(log, m, pool, "outer writes after the rollback");
      if (HasFatalFailure()) {
        ADD_FAILURE() << "outer " << outer << " inner " << inner;
        return;
      }
    }
  }
}

TEST(WriteLogTest, RandomOperationsMatchTheModel) {
  const int steps = static_cast<int>(optimist::test::scaled(400));
  unsigned seed = 1;
  for (std::size_t pool : {std::size_t{4}, std::size_t{12}, std::size_t{40}, std::size_t{300}}) {
    for (std::uintptr_t stride : {std::uintptr_t{8}, std::uintptr_t{512}}) {
      random_run(pool, stride, seed++, steps);
      if (HasFailure()) return;
    }
  }
}

TEST(WriteLogTest, ClearsSurviveTheGenerationWrapAround) {
  write_log log;
  model m;
  std::vector<std::uintptr_t> pool = word_pool(64, 8);
  log.set_generation_for_testing(std::numeric_limits<std::uint32_t>::max() - 3);
  for (std::size_t t = 0; t < 10; ++t) {
    // Each "transaction" writes a different window of 40 words (indexed),
    // so a slot left over from an earlier generation would show as a word
    // that is not written now.
    for (std::size_t i = 0; i < 40; ++i) put(log, m, pool[(t * 3 + i) % pool.size()], t, ~0ull);
    expect_matches(log, m, pool, "transaction near the wrap-around");
    if (HasFatalFailure()) {
      ADD_FAILURE() << "transaction " << t;
      return;
    }
    log.clear();
    m.clear();
    expect_matches(log, m, pool, "cleared near the wrap-around");
  }
}

// Resets the write-log entry limit even if an assertion leaves the test early.
struct entry_limit_for_testing {
  explicit entry_limit_for_testing(std::size_t limit) {
    write_log::set_entry_limit_for_testing(limit);
  }
  ~entry_limit_for_testing() {
    write_log::set_entry_limit_for_testing(std::numeric_limits<std::size_t>::max());
  }
};

TEST(WriteLogTest, AFullLogThrowsAndStaysUnchanged) {
  for (std::size_t limit : {write_log::linear_limit, std::size_t{32}, std::size_t{100}}) {
    write_log log;
    model m;
    std::vector<std::uintptr_t> pool = word_pool(limit + 4, 512);
    entry_limit_for_testing full(limit);
    for (std::size_t i = 0; i < limit; ++i) put(log, m, pool[i], i, ~0ull);
    EXPECT_THROW(log.put(pool[limit], 1, ~0ull, {}), std::bad_alloc);
    put(log, m, pool[0], 5, 0xff);  // rewriting a word needs no entry
    expect_matches(log, m, pool, "after the refused write");
  }
}

// Through atomic blocks: a block that writes many words and reads them back
// (kmeans-like), and a nested block that throws after overwriting.
TEST(WriteLogTest, BlocksReadBackManyOwnWrites) {
  static long words[2000];
  for (std::size_t n : {std::size_t{5}, std::size_t{9}, std::size_t{33}, std::size_t{2000}}) {
    for (std::size_t i = 0; i < n; ++i) words[i] = static_cast<long>(i);
    long total = optimist::atomically([&] {
      for (std::size_t i = 0; i < n; ++i) optimist::store(words[i], optimist::load(words[i]) * 2);
      for (std::size_t i = 0; i < n; i += 3)
        optimist::store(words[i], optimist::load(words[i]) + 1);
      long sum = 0;
      for (std::size_t i = 0; i < n; ++i) sum += optimist::load(words[i]);
      // A nested block rewrites everything, then throws: its writes vanish.
      try {
        optimist::atomically([&] {
          for (std::size_t i = 0; i < n; ++i) optimist::store(words[i], -1L);
          for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(optimist::load(words[i]), -1);
          throw std::runtime_error("inner");
        });
      } catch (const std::runtime_error&) {
      }
      long again = 0;
      for (std::size_t i = 0; i < n; ++i) again += optimist::load(words[i]);
      EXPECT_EQ(again, sum) << "n " << n;
      return sum;
    });
    long expected = 0;
    for (std::size_t i = 0; i < n; ++i) {
      long v = 2 * static_cast<long>(i) + (i % 3 == 0 ? 1 : 0);
      expected += v;
      EXPECT_EQ(words[i], v) << "n " << n << " i " << i;
    }
    EXPECT_EQ(total, expected) << "n " << n;
  }
}

}  // namespace

}  // namespace write_log_test
