// The pending irrevocable re-run belongs to the block that is re-run, even
// when cleanup code runs transactions between its attempts (issue 11, item 5;
// INVARIANT rerun-kept, runtime/stm/commit.cpp).
//
// become_inevitable() promises at most one restart: an attempt whose reads
// have changed restarts keeping the inevitability token and runs irrevocably
// from its start. A transaction that starved (max_restarts aborts in a row)
// likewise runs its next attempt irrevocably. Between the two attempts the
// rollback destroys the objects the lost attempt allocated, and a destructor
// may run a transaction on the same thread. Checked: that transaction neither
// takes the pending irrevocable re-run nor releases the token nor resets the
// abort count; the block's next attempt runs irrevocably, so it is its last;
// and the token is free again afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "optimist/optimist.hpp"
#include "stm/contention_manager.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"
#include "support/serial_mode.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace inevitability_test {

namespace {

using optimist::test::watchdog;

bool running_irrevocably() {
  const optimist::detail::transaction* tx = optimist::detail::tls_current;
  return tx != nullptr && tx->mode == optimist::detail::tx_mode::irrevocable;
}

// What the destructor of an object allocated by a lost attempt does.
enum class cleanup_kind { transaction, inevitable_transaction };

optimist::tvar<long> g_side{0};

template <cleanup_kind Kind>
struct cleanup {
  ~cleanup() {
    optimist::atomically([] {
      if (Kind == cleanup_kind::inevitable_transaction) optimist::become_inevitable();
      g_side.set(g_side.get() + 1);
    });
  }
};

// Another thread can become inevitable now (else the watchdog fires).
void expect_token_free() {
  optimist::tvar<long> probe{0};
  std::thread([&] {
    optimist::atomically([&] {
      optimist::become_inevitable();
      probe.set(1);
    });
  }).join();
  EXPECT_EQ(probe.get(), 1);
}

template <cleanup_kind Kind>
void rerun_after_failed_become_inevitable() {
  optimist::tvar<long> x{0}, out{0};
  const long side_before = g_side.get();
  int attempts = 0;
  bool last_irrevocable = false;
  optimist::atomically([&] {
    ++attempts;
    long seen = x.get();
    last_irrevocable = running_irrevocably();
    // An irrevocable attempt holds x: a store to it would wait for our commit.
    if (!last_irrevocable && attempts <= 2) {
      optimist::tx_new<cleanup<Kind>>();          // destroyed if this attempt rolls back
      std::thread([&] { x = seen + 1; }).join();  // invalidates the read
    }
    optimist::become_inevitable();
    out.set(seen);
  });
  EXPECT_EQ(attempts, 2) << "become_inevitable() promises at most one restart";
  EXPECT_TRUE(last_irrevocable) << "the re-run after a failed become_inevitable() was not "
                                   "irrevocable: a transaction run by a destructor took it";
  EXPECT_EQ(out.get(), attempts - 1);
  EXPECT_EQ(g_side.get(), side_before + attempts - 1);  // once per lost attempt
  expect_token_free();
}

TEST(InevitabilityRerun, ACleanupTransactionDoesNotTakeTheIrrevocableRerun) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  watchdog guard("a re-run after become_inevitable with a cleanup transaction");
  rerun_after_failed_become_inevitable<cleanup_kind::transaction>();
}

TEST(InevitabilityRerun, AnInevitableCleanupTransactionKeepsTheTokenForTheRerun) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  watchdog guard("a re-run after become_inevitable with an inevitable cleanup transaction");
  rerun_after_failed_become_inevitable<cleanup_kind::inevitable_transaction>();
}

// Starvation: the attempt that loses for the max_restarts-th time allocated an
// object whose destructor runs a transaction; the next attempt must still run
// irrevocably (the cleanup transaction must not reset the abort count nor take
// the irrevocable attempt for itself).
TEST(InevitabilityRerun, ACleanupTransactionDoesNotResetStarvation) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("starvation and the irrevocable fallback");
  watchdog guard("a starved transaction with a cleanup transaction");
  const long side_before = g_side.get();
  std::thread([&] {
    // White box: this thread has lost max_restarts - 1 times in a row.
    optimist::detail::this_thread_transaction().consecutive_aborts =
        optimist::detail::max_restarts - 1;
    int attempts = 0;
    bool last_irrevocable = false;
    optimist::atomically([&] {
      ++attempts;
      last_irrevocable = running_irrevocably();
      if (attempts == 1) {
        optimist::tx_new<cleanup<cleanup_kind::transaction>>();
        throw optimist::detail::restart_signal{};  // loses once more: starved
      }
    });
    EXPECT_EQ(attempts, 2);
    EXPECT_TRUE(last_irrevocable) << "the attempt after starvation was not irrevocable";
  }).join();
  EXPECT_EQ(g_side.get(), side_before + 1);
  expect_token_free();
}

// become_inevitable() in a destructor while a user exception unwinds, after another thread
// changed what the attempt read: the attempt is lost, but nothing may be thrown out of the
// destructor. It threw restart_signal (std::terminate); now the attempt is marked lost, its
// exception dropped, and the block re-runs irrevocably and throws again.
struct inevitable_on_unwind {
  ~inevitable_on_unwind() { optimist::become_inevitable(); }
};

TEST(InevitabilityUnwinding, ADestructorBecomingInevitableAfterAConflictDoesNotTerminate) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("another thread commits while the block runs");
  optimist::test::watchdog guard("become_inevitable while an exception unwinds");
  optimist::tvar<long> x{0};
  int attempts = 0;
  long last_seen = -1;
  EXPECT_THROW(optimist::atomically([&] {
                 ++attempts;
                 inevitable_on_unwind guard_of_the_block;
                 last_seen = x.get();
                 if (attempts == 1) {
                   std::thread([&] { optimist::atomically([&] { x.set(x.get() + 1); }); }).join();
                 }
                 throw std::runtime_error("always");
               }),
               std::runtime_error);
  EXPECT_EQ(last_seen, 1) << "the exception that reached the caller came from a lost attempt";
  expect_token_free();
}

}  // namespace

}  // namespace inevitability_test
