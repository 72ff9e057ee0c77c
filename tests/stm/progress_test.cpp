// Progress under maximal contention: every transaction reads and writes the
// same three words, so at most one of any overlapping pair can commit. The
// contention manager promises that a transaction that keeps losing backs off
// and, after max_restarts consecutive aborts, runs irrevocably — so every
// thread finishes its fixed share of transactions, and none needs more than
// max_restarts + 1 attempts. A watchdog turns a livelock into a clear failure.
//
// Inevitability: become_inevitable() makes the rest of the attempt run once;
// a non-transactional side effect after it happens exactly once per
// transaction, even while other threads conflict with it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "stm/contention_manager.hpp"
#include "stm/transaction.hpp"
#include "support/describe_stats.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace progress_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

std::uint64_t sum_of_causes(const optimist::statistics& s) {
  std::uint64_t total = 0;
  for (std::uint64_t n : s.aborts_by_cause) total += n;
  return total;
}

// `threads` threads run transactions on one hot spot. The first
// `long_threads` of them run `per_thread` long transactions each: they also
// read a row of words that the short ones keep writing and take their time
// before committing, so without the starvation bound they would lose again
// and again. The short ones keep committing until every long one is done (and
// at least `per_thread` times), so the pressure lasts as long as the test.
void run_hot_spot(int threads, int long_threads, long per_thread) {
  optimist::tvar<long> a{0}, b{0}, c{0};
  constexpr std::size_t row_size = 32;
  std::vector<std::unique_ptr<optimist::tvar<long>>> row;
  for (std::size_t i = 0; i < row_size; ++i) {
    row.push_back(std::make_unique<optimist::tvar<long>>(0));
  }
  std::vector<long> completed(static_cast<std::size_t>(threads), 0);
  std::vector<int> most_attempts(static_cast<std::size_t>(threads), 0);
  std::atomic<int> long_threads_running{long_threads};
  std::atomic<long> torn{0};

  optimist::reset_stats();
  {
    optimist::test::watchdog guard(std::to_string(threads) + " threads on one hot spot");
    run_threads(threads, [&](int index) {
      const bool long_transactions = index < long_threads;
      const auto me = static_cast<std::size_t>(index);
      for (long i = 0;
           long_transactions ? i < per_thread : (i < per_thread || long_threads_running.load() > 0);
           ++i) {
        int attempts = 0;
        optimist::atomically([&] {
          ++attempts;
          const long va = a.get();
          const long vb = b.get();
          if (long_transactions) {
            long row_sum = 0;
            for (auto& w : row) row_sum += w->get();
            if (row_sum < 0) torn.fetch_add(1);
            optimist::test::think(200);  // long: the short ones commit meanwhile
          } else {
            auto& w = *row[static_cast<std::size_t>(i) % row_size];
            w.set(w.get() + 1);
          }
          optimist::test::think(10);
          const long vc = c.get();
          if (va != vb || vb != vc) torn.fetch_add(1);
          a.set(va + 1);
          b.set(vb + 1);
          c.set(vc + 1);
        });
        most_attempts[me] = std::max(most_attempts[me], attempts);
        ++completed[me];
      }
      if (long_transactions) long_threads_running.fetch_sub(1);
    });
  }
  const optimist::statistics s = optimist::stats();
  std::printf("%d threads (%d long): %s; most attempts %d\n", threads, long_threads,
              optimist::test::describe(s).c_str(),
              *std::max_element(most_attempts.begin(), most_attempts.end()));

  long total = 0;
  for (int i = 0; i < threads; ++i) {
    const long done = completed[static_cast<std::size_t>(i)];
    total += done;
    if (i < long_threads) {
      EXPECT_EQ(done, per_thread) << "long thread " << i;
    } else {
      EXPECT_GE(done, per_thread) << "short thread " << i;
    }
    EXPECT_LE(most_attempts[static_cast<std::size_t>(i)],
              static_cast<int>(optimist::detail::max_restarts) + 1)
        << "thread " << i << " needed more attempts than the starvation bound allows";
  }
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(a.get(), total);
  EXPECT_EQ(b.get(), total);
  EXPECT_EQ(c.get(), total);
  // The counters add up: one commit per transaction, every abort re-ran
  // (no exceptions here), every abort has exactly one cause, and with no
  // become_inevitable() every irrevocable run is a starved transaction.
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(total));
  EXPECT_EQ(s.read_only_commits, 0u);
  EXPECT_EQ(s.aborts, s.restarts);
  EXPECT_EQ(sum_of_causes(s), s.aborts);
  EXPECT_EQ(s.aborts_for(optimist::abort_cause::user_exception), 0u);
  EXPECT_EQ(s.aborts_for(optimist::abort_cause::explicit_restart), 0u);
  EXPECT_EQ(s.irrevocable, s.starved);
  if (s.starved > 0) {
    EXPECT_GE(s.aborts, s.starved * optimist::detail::max_restarts)
        << "a transaction became irrevocable before max_restarts aborts";
  }
}

class ProgressTest : public ::testing::TestWithParam<int> {};

// GetParam() threads; the first runs long transactions.
TEST_P(ProgressTest, EveryThreadFinishesOnAHotSpot) {
  run_hot_spot(GetParam(), 1, scaled(500));
}

// Always four threads (more than the machine's cores); GetParam() of them
// run long transactions.
TEST_P(ProgressTest, FourThreadsFinishOnAHotSpot) {
  run_hot_spot(4, GetParam(), scaled(500));
}

// True while the calling thread's transaction runs irrevocably (white-box).
bool running_irrevocably() {
  const optimist::detail::transaction* tx = optimist::detail::tls_current;
  return tx != nullptr && tx->mode == optimist::detail::tx_mode::irrevocable;
}

// The starvation bound, staged so that it does not depend on timing: in every
// optimistic attempt, a victim reads x and lets its spoiler commit a write to
// x before it writes y and commits, so every such attempt fails validation.
// The attempt after max_restarts failures must run irrevocably (the victim
// then does not wait: its spoiler could not commit anyway) and commit. Without
// the bound the victim would keep losing until its spoiler runs out of rounds.
TEST_P(ProgressTest, StarvingTransactionBecomesIrrevocableAfterMaxRestarts) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("starvation and the irrevocable fallback");
  const int victims = GetParam();
  const int bound = static_cast<int>(optimist::detail::max_restarts);
  const int spoiler_rounds = 3 * bound;  // more than the bound: the victim must not need them
  struct pair_state {
    optimist::tvar<long> x{0};
    optimist::tvar<long> y{0};
    std::atomic<int> victim_read{0};
    std::atomic<int> spoiler_committed{0};
    std::atomic<bool> spoiler_gone{false};
    std::atomic<bool> victim_done{false};
    int attempts = 0;
    int irrevocable_attempts = 0;
    long y_written = -1;
  };
  std::vector<std::unique_ptr<pair_state>> pairs;
  for (int i = 0; i < victims; ++i) pairs.push_back(std::make_unique<pair_state>());

  optimist::reset_stats();
  optimist::test::watchdog guard("a victim starved by its spoiler");
  run_threads(2 * victims, [&](int index) {
    pair_state& p = *pairs[static_cast<std::size_t>(index / 2)];
    if (index % 2 == 1) {  // spoiler
      for (int round = 1; round <= spoiler_rounds; ++round) {
        while (p.victim_read.load() < round && !p.victim_done.load()) std::this_thread::yield();
        if (p.victim_done.load()) break;
        optimist::atomically([&] { p.x.set(p.x.get() + 1); });
        p.spoiler_committed.store(round);
      }
      p.spoiler_gone.store(true);
      return;
    }
    optimist::atomically([&] {  // victim
      const int attempt = ++p.attempts;
      const long seen = p.x.get();
      p.victim_read.store(attempt);
      if (running_irrevocably()) {
        ++p.irrevocable_attempts;
      } else {
        while (p.spoiler_committed.load() < attempt && !p.spoiler_gone.load()) {
          std::this_thread::yield();
        }
      }
      p.y.set(seen + 1);
      p.y_written = seen + 1;
    });
    p.victim_done.store(true);
  });

  const optimist::statistics s = optimist::stats();
  std::printf("%s\n", optimist::test::describe(s).c_str());
  for (int i = 0; i < victims; ++i) {
    const pair_state& p = *pairs[static_cast<std::size_t>(i)];
    EXPECT_EQ(p.attempts, bound + 1) << "victim " << i << ": a transaction must run irrevocably "
                                     << "after max_restarts (" << bound << ") aborts in a row";
    EXPECT_EQ(p.irrevocable_attempts, 1) << "victim " << i;
    EXPECT_EQ(p.y.get(), bound + 1)
        << "victim " << i << ": it read x after " << bound << " spoiler commits";
    EXPECT_EQ(p.y_written, p.y.get());
    EXPECT_GE(p.x.get(), bound);
  }
  // Each victim failed validation exactly `bound` times; spoilers only ever
  // lost against irrevocable victims.
  EXPECT_EQ(s.aborts_for(optimist::abort_cause::commit_invalidated),
            static_cast<std::uint64_t>(victims * bound));
  EXPECT_GE(s.starved, static_cast<std::uint64_t>(victims));
  EXPECT_GE(s.irrevocable, s.starved);
}

TEST_P(ProgressTest, InevitableSideEffectHappensOncePerTransaction) {
  const int threads = GetParam();
  const long per_thread = scaled(2000);
  optimist::tvar<long> counter{0};
  optimist::tvar<long> other{0};
  // Touched only after become_inevitable(): one inevitable transaction at a
  // time, so a plain variable (ThreadSanitizer checks that claim too).
  long side_effects = 0;
  std::atomic<long> inevitable_transactions{0};
  std::atomic<long> wrong_effect_counts{0};
  std::atomic<long> torn{0};

  optimist::reset_stats();
  {
    optimist::test::watchdog guard("inevitable transactions under contention");
    run_threads(threads, [&](int index) {
      long mine = 0;
      for (long i = 0; i < per_thread; ++i) {
        if ((i + index) % 2 == 0) {
          int effects = 0;
          optimist::atomically([&] {
            const long seen = counter.get();  // read first: may have to re-run once
            optimist::test::think(10);
            optimist::become_inevitable();
            ++side_effects;
            ++effects;
            if (counter.get() != seen) torn.fetch_add(1);  // nothing it read can change now
            counter.set(seen + 1);
            other.set(other.get() + 1);
          });
          if (effects != 1) wrong_effect_counts.fetch_add(1);
          ++mine;
        } else {
          optimist::atomically([&] {
            const long seen = counter.get();
            optimist::test::think(10);
            counter.set(seen + 1);
            other.set(other.get() + 1);
          });
        }
      }
      inevitable_transactions.fetch_add(mine);
    });
  }
  const optimist::statistics s = optimist::stats();
  std::printf("%s\n", optimist::test::describe(s).c_str());

  const long total = threads * per_thread;
  EXPECT_EQ(wrong_effect_counts.load(), 0) << "a side effect after become_inevitable() ran "
                                              "twice, or not at all, in one transaction";
  EXPECT_EQ(side_effects, inevitable_transactions.load());
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(counter.get(), total);
  EXPECT_EQ(other.get(), total);
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(total));
  EXPECT_EQ(s.aborts, s.restarts);
  EXPECT_EQ(sum_of_causes(s), s.aborts);
  // Each inevitable transaction counts once; starved ordinary ones add to it.
  EXPECT_GE(s.irrevocable, static_cast<std::uint64_t>(inevitable_transactions.load()));
  EXPECT_LE(s.irrevocable, static_cast<std::uint64_t>(inevitable_transactions.load()) + s.starved);
}

TEST_P(ProgressTest, BecomeInevitableOutsideATransactionDoesNothing) {
  run_threads(GetParam(), [](int) {
    optimist::become_inevitable();
    EXPECT_FALSE(optimist::in_transaction());
    optimist::tvar<long> v{1};
    optimist::atomically([&] {
      optimist::become_inevitable();
      optimist::become_inevitable();  // twice is fine
      v.set(v.get() + 1);
    });
    EXPECT_EQ(v.get(), 2);
  });
}

INSTANTIATE_TEST_SUITE_P(Threads, ProgressTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace progress_test
