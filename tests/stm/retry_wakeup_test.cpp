// optimist::retry() never sleeps through the commit that should wake it, also
// when the retrying attempt runs irrevocably (issue 11, item 1).
//
// The lazy clock (runtime/stm/global_clock.hpp) lets a commit stamp its words
// clock + 1 without moving the clock, so a word may carry a version above the
// clock, and the next commit to it may stamp the very same version. That is
// harmless as long as nobody records such a version (INVARIANT
// recorded-below-clock); an irrevocable attempt used to record it in its wait
// set without raising the clock, and then a commit that changed the word left
// its orec exactly as recorded, so the waiter slept on a word that had changed.
//
// Checked, for each way an attempt becomes irrevocable (re-run after a failed
// become_inevitable(), starved after max_restarts aborts) and each kind of
// waking commit (a store outside a transaction, a transaction, an inevitable
// transaction): the commit lands in the window between the rollback and the
// registration of the waiter — deterministically, from the destructor of an
// object the attempt allocated — and the waiter must run again. A second test
// lets the store race with the registration without any hook.
//
// A lost wake-up is a thread that never returns; the tests wait for it a
// generous while (it normally returns within microseconds), then report it and
// wake it with a second store so that the process can go on.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "optimist/optimist.hpp"
#include "stm/contention_manager.hpp"
#include "stm/thread_registry.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace retry_wakeup_test {

namespace {

using namespace std::chrono_literals;
using optimist::test::scaled;
using optimist::test::watchdog;

// How long a thread that should have been woken may take before the test
// calls it a lost wake-up. Not a performance limit: a woken thread returns in
// microseconds; a lost one never does.
constexpr std::chrono::milliseconds lost_after{2000};

bool wait_until(const std::atomic<bool>& done, std::chrono::steady_clock::duration limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  return done.load();
}

enum class irrevocable_by { failed_become_inevitable, starvation };
enum class woken_by { store, transaction, inevitable_transaction };

struct wakeup_case {
  irrevocable_by cause;
  woken_by waker;
};

std::string case_name(const ::testing::TestParamInfo<wakeup_case>& info) {
  std::string name = info.param.cause == irrevocable_by::starvation ? "Starved" : "Reran";
  switch (info.param.waker) {
    case woken_by::store:
      return name + "_WokenByStore";
    case woken_by::transaction:
      return name + "_WokenByTransaction";
    case woken_by::inevitable_transaction:
      return name + "_WokenByInevitableTransaction";
  }
  return name;
}

void set_flag(optimist::tvar<long>& flag, woken_by waker) {
  switch (waker) {
    case woken_by::store:
      flag = 1;  // stamp clock + 1, no read: the clock does not move
      break;
    case woken_by::transaction:
      optimist::atomically([&] { flag.set(1); });
      break;
    case woken_by::inevitable_transaction:
      optimist::atomically([&] {
        optimist::become_inevitable();
        flag.set(1);
      });
      break;
  }
}

class RetryWakeupTest : public ::testing::TestWithParam<wakeup_case> {};

// The waker commits between the rollback of the retrying irrevocable attempt
// and its registration in the wait table: the waiter must see the change.
TEST_P(RetryWakeupTest, AnIrrevocableRetryIsWokenByACommitDuringItsRollback) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  watchdog guard("an irrevocable retry woken during its rollback");
  const wakeup_case param = GetParam();
  optimist::tvar<long> flag{0}, x{0};
  // phase: 1 attempt read x / 2 x changed / 3 retrying / 4 commit now / 5 committed
  std::atomic<int> phase{0};
  std::atomic<int> attempts{0};
  std::atomic<bool> done{false};

  // Destroyed when the retrying attempt rolls back: after its reservations are
  // released, before the waiter registers.
  struct window_hook {
    std::atomic<int>* phase;
    explicit window_hook(std::atomic<int>* p) : phase(p) {}
    ~window_hook() {
      if (phase->load() != 3) return;
      phase->store(4);
      while (phase->load() != 5) std::this_thread::yield();
    }
  };

  std::thread writer([&] {
    if (param.cause == irrevocable_by::failed_become_inevitable) {
      while (phase.load() != 1) std::this_thread::yield();
      x = 1;     // invalidates the first attempt's read: it re-runs irrevocably
      flag = 0;  // and flag now carries a version above the clock (clock + 1)
      phase.store(2);
    }
    while (phase.load() != 4) std::this_thread::yield();
    set_flag(flag, param.waker);
    phase.store(5);
  });

  std::thread waiter([&] {
    if (param.cause == irrevocable_by::starvation) {
      flag = 0;  // a version above the clock
      phase.store(2);
      // White box: this thread has "lost" max_restarts times in a row, so its
      // next attempt starts irrevocable.
      optimist::detail::this_thread_transaction().consecutive_aborts =
          optimist::detail::max_restarts;
    }
    long seen = optimist::atomically([&] {
      int attempt = attempts.fetch_add(1) + 1;
      if (attempt == 1 && param.cause == irrevocable_by::failed_become_inevitable) {
        (void)x.get();
        phase.store(1);
        while (phase.load() != 2) std::this_thread::yield();
        optimist::become_inevitable();  // x changed: restart, irrevocable from the start
      }
      long f = flag.get();
      if (f == 0) {
        if (phase.load() == 2) {
          phase.store(3);
          optimist::tx_new<window_hook>(&phase);
        }
        optimist::retry();
      }
      return f;
    });
    EXPECT_EQ(seen, 1);
    done.store(true);
  });

  while (phase.load() != 5) std::this_thread::yield();
  const bool woken = wait_until(done, lost_after);
  EXPECT_TRUE(woken) << "lost wake-up: flag is 1, but the transaction that retried on flag == 0 "
                        "still sleeps (its wait set recorded a version the commit repeated)";
  if (!woken) flag = 1;  // the waiter is registered by now: this wakes it
  waiter.join();
  writer.join();
  EXPECT_EQ(attempts.load(), param.cause == irrevocable_by::starvation ? 2 : 3);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RetryWakeupTest,
    ::testing::Values(wakeup_case{irrevocable_by::failed_become_inevitable, woken_by::store},
                      wakeup_case{irrevocable_by::failed_become_inevitable, woken_by::transaction},
                      wakeup_case{irrevocable_by::failed_become_inevitable,
                                  woken_by::inevitable_transaction},
                      wakeup_case{irrevocable_by::starvation, woken_by::store},
                      wakeup_case{irrevocable_by::starvation, woken_by::transaction},
                      wakeup_case{irrevocable_by::starvation, woken_by::inevitable_transaction}),
    case_name);

// The same without a hook: the store waits on flag's reservation and commits
// as soon as the rollback releases it, racing with the waiter's registration.
// Every round must end with the waiter woken.
TEST(RetryWakeupRace, AStoreRacingWithTheRegistrationIsNeverLost) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  watchdog guard("stores racing with irrevocable retries");
  const long rounds = scaled(20);
  auto flags = std::make_unique<optimist::tvar<long>[]>(static_cast<std::size_t>(rounds));
  auto xs = std::make_unique<optimist::tvar<long>[]>(static_cast<std::size_t>(rounds));
  long lost = 0;
  for (long i = 0; i < rounds; ++i) {
    optimist::tvar<long>& flag = flags[static_cast<std::size_t>(i)];
    optimist::tvar<long>& x = xs[static_cast<std::size_t>(i)];
    std::atomic<int> phase{0};
    std::atomic<bool> done{false};
    std::thread writer([&] {
      while (phase.load() != 1) std::this_thread::yield();
      x = 1;
      flag = 0;  // a version above the clock
      phase.store(2);
      while (phase.load() != 3) std::this_thread::yield();
      flag = 1;  // waits while flag is reserved, then commits
    });
    std::thread waiter([&] {
      int attempt = 0;
      optimist::atomically([&] {
        ++attempt;
        if (attempt == 1) {
          (void)x.get();
          phase.store(1);
          while (phase.load() != 2) std::this_thread::yield();
          optimist::become_inevitable();  // x changed: irrevocable re-run
        }
        if (flag.get() == 0) {
          phase.store(3);
          optimist::retry();
        }
      });
      done.store(true);
    });
    writer.join();  // flag == 1 from here on
    // A lost wake-up never ends by itself, so only a long limit is fair to a
    // woken waiter that is merely descheduled (under TSan, on a busy machine).
    if (!wait_until(done, lost_after)) {
      ++lost;
      flag = 1;  // wakes the registered waiter
    }
    waiter.join();
  }
  EXPECT_EQ(lost, 0) << lost << " of " << rounds
                     << " rounds: the retrying thread slept on a flag already set";
}

}  // namespace

}  // namespace retry_wakeup_test
