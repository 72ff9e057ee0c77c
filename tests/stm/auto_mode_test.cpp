// Auto mode's controller (runtime/stm/serial_mode.hpp, thread_runs_serial):
// an outermost block runs serially while its thread is the only one holding a
// transaction descriptor (the thread census), and speculatively as soon as a
// second thread holds one. Checked: the decisions (alone -> serial, two
// threads -> speculative, back to serial when the other thread has ended, a
// pending irrevocable re-run and an open durable store never serial), that
// stats() counts the serial commits, and that the bank invariant and
// consistent audits hold while threads join and leave, so that blocks switch
// between serial and speculative execution all the time.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "optimist/durable.hpp"
#include "optimist/optimist.hpp"
#include "optimist/report.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"
#include "support/white_box.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace auto_mode_test {

namespace {

using optimist::execution_mode;
using optimist::detail::tx_mode;
using optimist::test::running_mode;
using optimist::test::scaled;
using optimist::test::threads_with_descriptors;
using optimist::test::watchdog;

// Every test runs with the process mode set to auto and puts back what it
// found.
class AutoMode : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = optimist::execution_mode_now();
    optimist::set_execution_mode(execution_mode::automatic);
    (void)optimist::detail::this_thread_transaction();
  }
  void TearDown() override { optimist::set_execution_mode(previous_); }

 private:
  execution_mode previous_ = execution_mode::stm;
};

class AutoModeThreads : public AutoMode, public ::testing::WithParamInterface<int> {};

TEST_F(AutoMode, AThreadAloneRunsSerially) {
  ASSERT_EQ(threads_with_descriptors(), 1)
      << "precondition: this test's thread is the only one holding a descriptor";
  optimist::tvar<long> x{1};
  optimist::reset_stats();
  const tx_mode mode = optimist::atomically([&] {
    x.set(x.get() + 1);
    return running_mode();
  });
  EXPECT_EQ(mode, tx_mode::serial);
  EXPECT_EQ(x.get(), 2);
  const optimist::statistics s = optimist::stats();
  EXPECT_EQ(s.serial_commits, 1u);
  EXPECT_EQ(s.commits, 1u);
}

TEST_F(AutoMode, TwoThreadsInTransactionsRunSpeculatively) {
  watchdog guard("auto mode with a second thread");
  ASSERT_EQ(threads_with_descriptors(), 1);
  optimist::tvar<long> x{0};
  std::atomic<int> phase{0};
  std::thread other([&] {
    optimist::atomically([&] { x.set(x.get() + 1); });  // registers this thread
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  optimist::reset_stats();
  const tx_mode with_two = optimist::atomically([&] {
    x.set(x.get() + 1);
    return running_mode();
  });
  EXPECT_NE(with_two, tx_mode::serial);
  EXPECT_EQ(optimist::stats().serial_commits, 0u);
  phase.store(2);
  other.join();  // deregisters it
  ASSERT_EQ(threads_with_descriptors(), 1);
  const tx_mode alone_again = optimist::atomically([&] {
    x.set(x.get() + 1);
    return running_mode();
  });
  EXPECT_EQ(alone_again, tx_mode::serial) << "alone again: back to serial";
  EXPECT_EQ(x.get(), 3);
}

TEST_F(AutoMode, TheReportNamesTheBlocksThatRanSerially) {
  ASSERT_EQ(threads_with_descriptors(), 1);
  optimist::report::enable(true);
  optimist::reset_serial_lock_waits();
  optimist::tvar<long> x{0};
  for (int i = 0; i < 10; ++i) optimist::atomically([&] { x.set(x.get() + 1); });
  optimist::report::enable(false);
  const std::vector<optimist::serial_wait> waits = optimist::serial_lock_waits();
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_EQ(waits[0].blocks, 10u);
  EXPECT_NE(std::string(waits[0].site.file_name()).find("auto_mode_test.cpp"), std::string::npos);
  optimist::reset_serial_lock_waits();
}

TEST_F(AutoMode, NestedBlocksRunInTheOutermostBlocksMode) {
  ASSERT_EQ(threads_with_descriptors(), 1);
  optimist::tvar<long> x{0};
  const tx_mode inner = optimist::atomically([&] {
    x.set(1);
    return optimist::atomically([&] { return running_mode(); });
  });
  EXPECT_EQ(inner, tx_mode::serial);
}

TEST_F(AutoMode, APendingIrrevocableRerunRunsSpeculatively) {
  ASSERT_EQ(threads_with_descriptors(), 1);
  auto& tx = optimist::detail::this_thread_transaction();
  EXPECT_TRUE(optimist::detail::thread_runs_serial(tx));
  tx.irrevocable_next = true;  // white box: what a failed become_inevitable() leaves
  EXPECT_FALSE(optimist::detail::thread_runs_serial(tx));
  const tx_mode mode = optimist::atomically([&] { return running_mode(); });
  EXPECT_EQ(mode, tx_mode::irrevocable) << "the re-run is the irrevocable attempt";
  EXPECT_FALSE(tx.holds_token);
  EXPECT_TRUE(optimist::detail::thread_runs_serial(tx));
}

TEST_F(AutoMode, OtherModesAreNotAffected) {
  ASSERT_EQ(threads_with_descriptors(), 1);
  for (execution_mode m : {execution_mode::stm, execution_mode::htm}) {
    optimist::set_execution_mode(m);
    EXPECT_FALSE(optimist::detail::thread_runs_serial(optimist::detail::this_thread_transaction()))
        << to_string(m);
    optimist::tvar<long> x{0};
    const tx_mode mode = optimist::atomically([&] {
      x.set(1);
      return running_mode();
    });
    EXPECT_NE(mode, tx_mode::serial) << to_string(m);
  }
  optimist::set_execution_mode(execution_mode::serial);
  EXPECT_TRUE(optimist::detail::thread_runs_serial(optimist::detail::this_thread_transaction()));
}

// While a durable store is open, blocks run speculatively (serial writes go
// in place, and a durable word must reach the log first); after it closes, a
// thread alone runs serially again.
TEST_F(AutoMode, AnOpenDurableStoreKeepsBlocksSpeculative) {
  ASSERT_EQ(threads_with_descriptors(), 1);
  char pattern[] = "/tmp/optimist-auto-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  optimist::tvar<long> x{0};
  {
    optimist::durable::options small;
    small.heap_size = 1 << 20;
    small.log_size = 64 << 10;
    optimist::durable::store store(dir + "/auto.store", small);
    auto& heap_word = store.root<optimist::tvar<long>>("word");
    const tx_mode mode = optimist::atomically([&] {
      heap_word.set(heap_word.get() + 1);
      x.set(x.get() + 1);
      return running_mode();
    });
    EXPECT_NE(mode, tx_mode::serial);
  }
  const tx_mode after = optimist::atomically([&] {
    x.set(x.get() + 1);
    return running_mode();
  });
  EXPECT_EQ(after, tx_mode::serial);
  EXPECT_EQ(x.get(), 2);
  std::filesystem::remove_all(dir);
}

// Threads join and leave while this (registered) thread keeps transferring:
// its blocks switch between serial (alone) and speculative (company), and
// visiting threads arrive while its serial blocks run. The thread that starts
// the visitors runs no transaction, so it is not counted.
TEST_P(AutoModeThreads, BankInvariantWhileThreadsJoinAndLeave) {
  watchdog guard("auto mode bank with threads coming and going");
  ASSERT_EQ(threads_with_descriptors(), 1);
  constexpr int accounts = 16;
  constexpr long initial = 100;
  std::vector<optimist::tvar<long>> balance(accounts);
  for (auto& b : balance) b = initial;
  std::atomic<long> torn_audits{0};
  std::atomic<bool> done{false};
  const int visitors = GetParam();
  const long rounds = scaled(40);

  auto operate = [&](std::uint64_t& rng, long i) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    const auto from = static_cast<std::size_t>(rng % accounts);
    const auto to = static_cast<std::size_t>((rng >> 8) % accounts);
    if (i % 8 == 0) {
      optimist::atomically([&] {
        long sum = 0;
        for (auto& b : balance) sum += b.get();
        if (sum != initial * accounts) torn_audits.fetch_add(1);  // seen inside the attempt
      });
    } else {
      optimist::atomically([&] {
        balance[from].set(balance[from].get() - 1);
        balance[to].set(balance[to].get() + 1);
      });
    }
  };

  optimist::reset_stats();
  std::thread host([&] {
    for (long round = 0; round < rounds; ++round) {
      // Visitors: each registers, runs a few blocks beside this thread's and
      // ends; in between, the resident thread is alone again.
      optimist::test::run_threads(visitors, [&](int index) {
        std::uint64_t rng =
            0xD1B54A32D192ED03ull * static_cast<std::uint64_t>(round * 8 + index + 1);
        for (long i = 0; i < 50; ++i) operate(rng, i);
      });
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    done.store(true);
  });
  std::uint64_t rng = 0x9E3779B97F4A7C15ull;
  for (long i = 0; !done.load(std::memory_order_relaxed) || i < 1000; ++i) operate(rng, i);
  host.join();
  EXPECT_EQ(torn_audits.load(), 0);
  long total = 0;
  for (auto& b : balance) total += b.get();
  EXPECT_EQ(total, initial * accounts);
  const optimist::statistics s = optimist::stats();
  EXPECT_GT(s.serial_commits, 0u) << "the resident thread never ran alone serially";
  EXPECT_LT(s.serial_commits, s.commits) << "no block ran speculatively beside a visitor";
}

INSTANTIATE_TEST_SUITE_P(Threads, AutoModeThreads, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace auto_mode_test
