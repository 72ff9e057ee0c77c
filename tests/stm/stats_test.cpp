// optimist::stats(): every abort is counted once, under the right cause.
//
// Conflicts are staged deterministically so that the expected cause is
// certain, not merely likely: each of GetParam() victim threads runs one
// transaction whose first attempt stops at a chosen point (std::latch) while
// another thread does the conflicting thing; the second attempt runs
// unhindered. So exactly one abort per victim, of a known cause:
//
//   commit_invalidated  victim read x; spoiler commits x; victim writes y, commits
//   read_invalidated    victim read x; spoiler commits x and z; victim reads z
//   read_locked         x's orec is held locked (white-box) while the victim reads x
//   commit_locked       x's orec is held locked while the victim commits a write to x
//   inevitable          an inevitable transaction has read x; the victim commits x
//   user_exception      an exception escapes the block
//   explicit_restart    the C API's optimist_tx_restart()
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <stdexcept>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "optimist/stm.h"
#include "stm/orec_table.hpp"
#include "support/serial_mode.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace stats_test {

namespace {

using optimist::abort_cause;
using optimist::test::run_threads;

// Plain words, one per victim, each on its own cache line (and orec).
struct padded_word {
  alignas(64) long value = 0;
};

std::uint64_t sum_of_causes(const optimist::statistics& s) {
  std::uint64_t total = 0;
  for (std::uint64_t n : s.aborts_by_cause) total += n;
  return total;
}

// Every cause other than `cause` is zero, `cause` is `expected`, and the
// totals agree.
void expect_only(const optimist::statistics& s, abort_cause cause, std::uint64_t expected) {
  for (std::size_t i = 0; i < optimist::abort_cause_count; ++i) {
    const auto c = static_cast<abort_cause>(i);
    EXPECT_EQ(s.aborts_for(c), c == cause ? expected : 0u) << "cause " << optimist::to_string(c);
  }
  EXPECT_EQ(s.aborts, expected);
  EXPECT_EQ(sum_of_causes(s), s.aborts);
}

// Runs one transaction per victim. `body(index, attempt, pause)` is the
// transaction's body; in the first attempt, `pause()` lets `spoil()` run (on
// another thread, once all victims paused) and returns when it is done.
// Returns each victim's number of attempts.
template <class Body, class Spoil>
std::vector<int> stage_conflict(int victims, Body body, Spoil spoil) {
  std::latch all_paused(victims);
  std::latch spoiled(1);
  std::vector<int> attempts(static_cast<std::size_t>(victims), 0);
  optimist::test::watchdog guard("staging a conflict");
  std::thread spoiler([&] {
    all_paused.wait();
    spoil();
    spoiled.count_down();
  });
  run_threads(victims, [&](int index) {
    optimist::atomically([&] {
      const int attempt = ++attempts[static_cast<std::size_t>(index)];
      body(index, attempt, [&] {
        if (attempt == 1) {
          all_paused.count_down();
          spoiled.wait();
        }
      });
    });
  });
  spoiler.join();
  return attempts;
}

// Holds the orecs of some words locked by a committer that does not exist,
// as if it were stuck in the middle of its write-back.
class fake_committer {
 public:
  void lock(const void* word) {
    auto& o = optimist::detail::orec_for(reinterpret_cast<std::uintptr_t>(word));
    held_.push_back({&o, o.load()});
    o.store(optimist::detail::orec_make_locked(
        reinterpret_cast<const optimist::detail::transaction*>(&identity_)));
  }
  void unlock_all() {
    for (auto& h : held_) h.lock->store(h.previous);
    held_.clear();
  }

 private:
  struct held {
    optimist::detail::orec* lock;
    std::uint64_t previous;
  };
  alignas(64) char identity_[64] = {};
  std::vector<held> held_;
};

// Exact counts of the software engine's aborts and restarts: in auto mode a
// lone thread's serial block that gives way to an arriving thread restarts
// too, so these run in stm there (support/serial_mode.hpp).
class StatsTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { optimist::reset_stats(); }

 private:
  optimist::test::speculation_pin mode_;
};

TEST_P(StatsTest, UserExceptionCountsOneAbortEach) {
  const int threads = GetParam();
  constexpr int throws_per_thread = 25;
  optimist::tvar<long> v{0};
  run_threads(threads, [&](int) {
    for (int i = 0; i < throws_per_thread; ++i) {
      try {
        optimist::atomically([&] {
          v.set(v.get() + 1);
          throw std::runtime_error("no");
        });
      } catch (const std::runtime_error&) {
      }
    }
  });
  const optimist::statistics s = optimist::stats();
  const auto expected = static_cast<std::uint64_t>(threads * throws_per_thread);
  expect_only(s, abort_cause::user_exception, expected);
  EXPECT_EQ(s.restarts, 0u) << "a block that threw was run again";
  EXPECT_EQ(s.commits, 0u);
  EXPECT_EQ(v.get(), 0);
}

TEST_P(StatsTest, ResetStatsZeroesEveryCounter) {
  // Produce something in every field that a plain workload can reach.
  optimist::tvar<long> v{0};
  run_threads(GetParam(), [&](int) {
    for (int i = 0; i < 100; ++i) {
      optimist::atomically([&] { v.set(v.get() + 1); });
      optimist::atomically([&] { (void)v.get(); });
      optimist::atomically([&] {
        optimist::become_inevitable();
        v.set(v.get() + 1);
      });
      try {
        optimist::atomically([&] { throw 1; });
      } catch (int) {
      }
    }
  });
  optimist::statistics before = optimist::stats();
  EXPECT_EQ(before.commits, static_cast<std::uint64_t>(GetParam() * 300));
  EXPECT_EQ(before.read_only_commits, static_cast<std::uint64_t>(GetParam() * 100));
  EXPECT_GE(before.irrevocable, static_cast<std::uint64_t>(GetParam() * 100));
  EXPECT_GE(before.aborts, static_cast<std::uint64_t>(GetParam() * 100));

  optimist::reset_stats();
  const optimist::statistics s = optimist::stats();
  EXPECT_EQ(s.commits, 0u);
  EXPECT_EQ(s.read_only_commits, 0u);
  EXPECT_EQ(s.aborts, 0u);
  EXPECT_EQ(s.restarts, 0u);
  EXPECT_EQ(s.irrevocable, 0u);
  EXPECT_EQ(s.starved, 0u);
  for (std::size_t i = 0; i < optimist::abort_cause_count; ++i) {
    EXPECT_EQ(s.aborts_by_cause[i], 0u) << optimist::to_string(static_cast<abort_cause>(i));
  }

  // Counting resumes from zero, also on threads that did not exist before.
  run_threads(GetParam(), [&](int) { optimist::atomically([&] { v.set(v.get() + 1); }); });
  EXPECT_EQ(optimist::stats().commits, static_cast<std::uint64_t>(GetParam()));
  EXPECT_EQ(optimist::stats().read_only_commits, 0u);
}

TEST_P(StatsTest, WriteAfterAConflictingCommitIsCommitInvalidated) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("conflicts staged between threads inside blocks");
  const int victims = GetParam();
  std::vector<padded_word> x(static_cast<std::size_t>(victims));
  std::vector<padded_word> y(static_cast<std::size_t>(victims));
  auto attempts = stage_conflict(
      victims,
      [&](int i, int, auto pause) {
        const long seen = optimist::load(x[static_cast<std::size_t>(i)].value);
        pause();
        optimist::store(y[static_cast<std::size_t>(i)].value, seen + 1);
      },
      [&] {
        optimist::atomically([&] {
          for (auto& w : x) optimist::store(w.value, optimist::load(w.value) + 1);
        });
      });
  const optimist::statistics s = optimist::stats();
  for (int a : attempts) EXPECT_EQ(a, 2);
  expect_only(s, abort_cause::commit_invalidated, static_cast<std::uint64_t>(victims));
  EXPECT_EQ(s.restarts, static_cast<std::uint64_t>(victims));
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(victims) + 1);
  for (auto& w : y) EXPECT_EQ(w.value, 2) << "the second attempt did not see the spoiler's x";
}

TEST_P(StatsTest, ReadOfAWordNewerThanAnInvalidSnapshotIsReadInvalidated) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("conflicts staged between threads inside blocks");
  const int victims = GetParam();
  std::vector<padded_word> x(static_cast<std::size_t>(victims));
  std::vector<padded_word> z(static_cast<std::size_t>(victims));
  std::vector<long> sums(static_cast<std::size_t>(victims), -1);
  auto attempts = stage_conflict(
      victims,
      [&](int i, int, auto pause) {  // read-only: even these must abort
        const auto k = static_cast<std::size_t>(i);
        const long seen_x = optimist::load(x[k].value);
        pause();
        sums[k] = seen_x + optimist::load(z[k].value);
      },
      [&] {
        optimist::atomically([&] {
          for (auto& w : x) optimist::store(w.value, 1L);
          for (auto& w : z) optimist::store(w.value, 1L);
        });
      });
  const optimist::statistics s = optimist::stats();
  for (int a : attempts) EXPECT_EQ(a, 2);
  for (long sum : sums) EXPECT_EQ(sum, 2) << "a reader combined an old x with a new z";
  expect_only(s, abort_cause::read_invalidated, static_cast<std::uint64_t>(victims));
  EXPECT_EQ(s.read_only_commits, static_cast<std::uint64_t>(victims));
}

// The orec of x[i] is locked by a committer that never finishes until every
// victim has started its second attempt. Outcome per victim: `cause`, once.
void run_with_stuck_committer(int victims, bool write, abort_cause cause) {
  std::vector<padded_word> x(static_cast<std::size_t>(victims));
  std::vector<int> attempts(static_cast<std::size_t>(victims), 0);
  std::latch in_second_attempt(victims);
  std::latch unlocked(1);
  fake_committer stuck;
  for (auto& w : x) stuck.lock(&w.value);

  optimist::test::watchdog guard("waiting on an orec held by a stuck committer");
  std::thread release([&] {
    in_second_attempt.wait();
    stuck.unlock_all();
    unlocked.count_down();
  });
  run_threads(victims, [&](int index) {
    const auto i = static_cast<std::size_t>(index);
    optimist::atomically([&] {
      if (++attempts[i] == 2) {
        in_second_attempt.count_down();
        unlocked.wait();
      }
      if (write) {
        optimist::store(x[i].value, 5L);  // blind write: only the commit meets the lock
      } else {
        (void)optimist::load(x[i].value);
      }
    });
  });
  release.join();

  for (int a : attempts) EXPECT_EQ(a, 2);
  expect_only(optimist::stats(), cause, static_cast<std::uint64_t>(victims));
  for (auto& w : x) EXPECT_EQ(w.value, write ? 5 : 0);
}

TEST_P(StatsTest, ReadOfALockedWordIsReadLocked) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("conflicts staged between threads inside blocks");
  run_with_stuck_committer(GetParam(), false, abort_cause::read_locked);
}

TEST_P(StatsTest, CommitOverAHeldLockIsCommitLocked) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("conflicts staged between threads inside blocks");
  run_with_stuck_committer(GetParam(), true, abort_cause::commit_locked);
}

TEST_P(StatsTest, CommitOverTheInevitableTransactionsWordsIsInevitable) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("conflicts staged between threads inside blocks");
  const int victims = GetParam();
  std::vector<padded_word> x(static_cast<std::size_t>(victims));
  std::vector<int> attempts(static_cast<std::size_t>(victims), 0);
  std::latch reserved(1);
  std::latch victims_in_second_attempt(victims);
  std::latch inevitable_done(1);

  optimist::test::watchdog guard("committing against an inevitable transaction");
  std::thread holder([&] {
    optimist::atomically([&] {
      optimist::become_inevitable();
      for (auto& w : x) optimist::store(w.value, optimist::load(w.value) + 100);
      reserved.count_down();
      victims_in_second_attempt.wait();
    });
    inevitable_done.count_down();
  });
  run_threads(victims, [&](int index) {
    const auto i = static_cast<std::size_t>(index);
    optimist::atomically([&] {
      const int attempt = ++attempts[i];
      if (attempt == 1) {
        reserved.wait();
      } else if (attempt == 2) {
        victims_in_second_attempt.count_down();
        inevitable_done.wait();
      }
      const long seen = optimist::load(x[i].value);  // reserved words can still be read
      optimist::store(x[i].value, seen + 1);
    });
  });
  holder.join();

  const optimist::statistics s = optimist::stats();
  for (int a : attempts) EXPECT_EQ(a, 2);
  expect_only(s, abort_cause::inevitable, static_cast<std::uint64_t>(victims));
  // The second attempt started after the inevitable commit: it saw 100.
  for (auto& w : x) EXPECT_EQ(w.value, 101);
  EXPECT_EQ(s.irrevocable, 1u);
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(victims) + 1);
}

// The C API, used from C++: no object with a destructor lives across
// OPTIMIST_TX_BEGIN, and what changes after it is volatile.
int restart_once_then_commit(std::uint64_t* word) {
  volatile int attempts = 0;
  int status = OPTIMIST_OK;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) return -1;
  attempts = attempts + 1;
  optimist_store_u64(word, optimist_load_u64(word) + 1);
  if (attempts == 1) optimist_tx_restart();
  if (optimist_tx_commit() != OPTIMIST_OK) return -2;
  return attempts;
}

TEST_P(StatsTest, OptimistTxRestartIsExplicitRestart) {
  std::vector<padded_word> words(static_cast<std::size_t>(GetParam()));
  std::atomic<int> wrong_attempts{0};
  run_threads(GetParam(), [&](int index) {
    optimist_thread_enter();
    auto* word = reinterpret_cast<std::uint64_t*>(&words[static_cast<std::size_t>(index)].value);
    if (restart_once_then_commit(word) != 2) wrong_attempts.fetch_add(1);
    optimist_thread_exit();
  });
  EXPECT_EQ(wrong_attempts.load(), 0);
  const optimist::statistics s = optimist::stats();
  expect_only(s, abort_cause::explicit_restart, static_cast<std::uint64_t>(GetParam()));
  EXPECT_EQ(s.restarts, static_cast<std::uint64_t>(GetParam()));
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(GetParam()));
  for (auto& w : words) EXPECT_EQ(w.value, 1) << "the restarted attempt's store was kept";
}

TEST(StatsNamesTest, EveryCauseHasItsName) {
  EXPECT_EQ(optimist::to_string(abort_cause::read_locked), "read_locked");
  EXPECT_EQ(optimist::to_string(abort_cause::read_invalidated), "read_invalidated");
  EXPECT_EQ(optimist::to_string(abort_cause::commit_locked), "commit_locked");
  EXPECT_EQ(optimist::to_string(abort_cause::commit_invalidated), "commit_invalidated");
  EXPECT_EQ(optimist::to_string(abort_cause::inevitable), "inevitable");
  EXPECT_EQ(optimist::to_string(abort_cause::user_exception), "user_exception");
  EXPECT_EQ(optimist::to_string(abort_cause::explicit_restart), "explicit_restart");
}

INSTANTIATE_TEST_SUITE_P(Threads, StatsTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace stats_test
