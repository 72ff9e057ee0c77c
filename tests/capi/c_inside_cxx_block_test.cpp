// A C transaction (OPTIMIST_TX_BEGIN ... optimist_tx_commit) inside a C++ atomic block: a C
// library with its own transactions called from C++ code. The C level is flattened into the
// block; what must hold when the C++ side unwinds through it, or the C side misbehaves:
//
// - an exception thrown while the C level is open rolls back the whole block and leaves the
//   thread outside any transaction (it used to roll back only the C level, leave the block open,
//   and crash the next block);
// - a conflict restart while the C level is open re-runs the block from its start;
// - a C level left open when the block returns commits with the block, and stderr says so;
// - optimist_tx_commit from inside a C++ block nested in the C transaction, or one commit more
//   than C began, is refused;
// - an access the engine refuses inside a C level reaches the block as its exception.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "optimist/access.hpp"
#include "optimist/atomically.hpp"
#include "optimist/stm.h"
#include "optimist/tvar.hpp"
#include "support/serial_mode.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace c_inside_cxx_block_test {

namespace {

// The C side, as a C library would have it (the header's macros; a C++ compiler here).
int c_store_in_transaction(std::uint64_t* word, std::uint64_t value, bool commit) {
  int status;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) return status;
  optimist_store_u64(word, optimist_load_u64(word) + value);
  return commit ? optimist_tx_commit() : OPTIMIST_OK;
}

class CInsideCxxBlockTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(optimist_thread_enter(), OPTIMIST_OK); }
  void TearDown() override {
    EXPECT_FALSE(optimist::in_transaction());
    EXPECT_EQ(optimist_thread_exit(), OPTIMIST_OK);
  }
};

TEST_F(CInsideCxxBlockTest, CommittedCLevelCommitsWithTheBlock) {
  std::uint64_t word = 1;
  optimist::tvar<long> x{0};
  optimist::atomically([&] {
    x.set(2);
    EXPECT_EQ(c_store_in_transaction(&word, 10, /*commit=*/true), OPTIMIST_OK);
    EXPECT_TRUE(optimist::in_transaction()) << "the C commit ended the C++ block";
  });
  EXPECT_EQ(word, 11u);
  EXPECT_EQ(x.get(), 2);
}

TEST_F(CInsideCxxBlockTest, ExceptionWhileTheCLevelIsOpenRollsBackTheWholeBlock) {
  std::uint64_t word = 1;
  optimist::tvar<long> x{0};
  EXPECT_THROW(optimist::atomically([&] {
                 x.set(2);
                 EXPECT_EQ(c_store_in_transaction(&word, 10, /*commit=*/false), OPTIMIST_OK);
                 throw std::runtime_error("out of the C level");
               }),
               std::runtime_error);
  EXPECT_FALSE(optimist::in_transaction()) << "the block was left open";
  EXPECT_EQ(word, 1u);
  EXPECT_EQ(x.get(), 0);
  // The next blocks start from nothing.
  optimist::atomically([&] { x.set(3); });
  EXPECT_EQ(c_store_in_transaction(&word, 5, /*commit=*/true), OPTIMIST_OK);
  EXPECT_EQ(x.get(), 3);
  EXPECT_EQ(word, 6u);
}

// A commit by another thread to a word the block read, while the C level is open: the C load
// after it finds the snapshot stale, and the restart re-runs the block from its start.
TEST_F(CInsideCxxBlockTest, RestartWhileTheCLevelIsOpenRunsTheBlockAgain) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("the other thread's block waits for ours");
  std::uint64_t word = 0;
  std::uint64_t late = 0;
  optimist::tvar<long> x{0};
  int attempts = 0;
  optimist::atomically([&] {
    ++attempts;
    const long seen = x.get();
    int status;
    OPTIMIST_TX_BEGIN(status);
    ASSERT_EQ(status, OPTIMIST_OK);
    if (attempts == 1) {
      std::thread([&] {
        optimist::atomically([&] {
          x.set(x.get() + 1);
          optimist::store(late, std::uint64_t{7});
        });
      }).join();
    }
    optimist_store_u64(&word, optimist_load_u64(&late) + static_cast<std::uint64_t>(seen));
    ASSERT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(word, 8u) << "7 from the other thread's commit, + the x it wrote";
}

TEST_F(CInsideCxxBlockTest, CLevelLeftOpenCommitsWithTheBlockAndIsNamed) {
  std::uint64_t word = 1;
  testing::internal::CaptureStderr();
  optimist::atomically(
      [&] { EXPECT_EQ(c_store_in_transaction(&word, 10, /*commit=*/false), OPTIMIST_OK); });
  const std::string diagnostic = testing::internal::GetCapturedStderr();
  EXPECT_EQ(word, 11u);
  EXPECT_NE(diagnostic.find("was not committed before the block ended"), std::string::npos)
      << diagnostic;
  EXPECT_NE(diagnostic.find("c_inside_cxx_block_test.cpp"), std::string::npos) << diagnostic;
}

TEST_F(CInsideCxxBlockTest, CCommitInsideANestedCxxBlockIsRefused) {
  std::uint64_t word = 1;
  int status;
  OPTIMIST_TX_BEGIN(status);
  ASSERT_EQ(status, OPTIMIST_OK);
  optimist_store_u64(&word, 2);
  testing::internal::CaptureStderr();
  int inner = OPTIMIST_OK;
  optimist::atomically([&] { inner = optimist_tx_commit(); });
  const std::string diagnostic = testing::internal::GetCapturedStderr();
  EXPECT_EQ(inner, OPTIMIST_E_NO_TRANSACTION);
  EXPECT_NE(diagnostic.find("inside a C++ atomic block"), std::string::npos) << diagnostic;
  EXPECT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  EXPECT_EQ(word, 2u);
}

// An access the engine refuses inside a C level goes on to the C++ block as the exception it is
// (the block rolls back); swallowed, the store was dropped and the block committed without it.
TEST_F(CInsideCxxBlockTest, RefusedAccessInACLevelReachesTheBlockAsAnException) {
  alignas(8) static std::uint64_t words[2] = {0, 0};
  auto* misaligned = reinterpret_cast<std::uint64_t*>(reinterpret_cast<char*>(words) + 3);
  optimist::tvar<long> x{0};
  EXPECT_THROW(optimist::atomically([&] {
                 x.set(1);
                 int status;
                 OPTIMIST_TX_BEGIN(status);
                 ASSERT_EQ(status, OPTIMIST_OK);
                 optimist_store_u64(misaligned, 7);
                 optimist_tx_commit();
               }),
               std::invalid_argument);
  EXPECT_EQ(x.get(), 0);
  EXPECT_EQ(words[0], 0u);
  EXPECT_EQ(words[1], 0u);
}

// A C library that brackets its work with optimist_thread_enter / optimist_thread_exit, called
// from a C++ block on a thread that never entered: its exit comes after its own commit, with
// only the C++ block running, and is not refused.
TEST_F(CInsideCxxBlockTest, CLibraryEnteringAndExitingInsideABlockIsNotRefused) {
  std::uint64_t word = 1;
  int exit_status = -100;
  std::thread([&] {
    optimist::atomically([&] {
      optimist_thread_enter();
      EXPECT_EQ(c_store_in_transaction(&word, 10, /*commit=*/true), OPTIMIST_OK);
      exit_status = optimist_thread_exit();
    });
  }).join();
  EXPECT_EQ(exit_status, OPTIMIST_OK);
  EXPECT_EQ(word, 11u);
}

// One optimist_tx_commit more than the C code began, inside a C++ block: refused; it used to
// commit the block in the middle of its body.
TEST_F(CInsideCxxBlockTest, ExtraCCommitInsideABlockIsRefused) {
  optimist::tvar<long> x{0};
  int extra = OPTIMIST_OK;
  testing::internal::CaptureStderr();
  optimist::atomically([&] {
    x.set(1);
    extra = optimist_tx_commit();
    EXPECT_TRUE(optimist::in_transaction());
    x.set(x.get() + 1);
  });
  const std::string diagnostic = testing::internal::GetCapturedStderr();
  EXPECT_EQ(extra, OPTIMIST_E_NO_TRANSACTION);
  EXPECT_EQ(x.get(), 2);
  EXPECT_NE(diagnostic.find("no C transaction open"), std::string::npos) << diagnostic;
}

// optimist_tx_restart in a C level inside a C++ block restarts the block (the header: it returns
// only when there is no transaction). It used to print "outside a C transaction" and return, so
// the C code went on and the block committed what the restart was to discard.
TEST_F(CInsideCxxBlockTest, RestartInACLevelRunsTheBlockAgain) {
  std::uint64_t word = 0;
  optimist::tvar<long> x{0};
  int attempts = 0;
  optimist::atomically([&] {
    ++attempts;
    x.set(x.get() + 1);
    int status;
    OPTIMIST_TX_BEGIN(status);
    ASSERT_EQ(status, OPTIMIST_OK);
    optimist_store_u64(&word, 99);
    if (attempts == 1) optimist_tx_restart();
    optimist_store_u64(&word, static_cast<std::uint64_t>(attempts));
    ASSERT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(word, 2u);
  EXPECT_EQ(x.get(), 1) << "the first attempt's write was not rolled back";
}

// The same from C code with no C transaction of its own, called from the block.
TEST_F(CInsideCxxBlockTest, RestartFromCCodeCalledByABlockRunsTheBlockAgain) {
  std::uint64_t word = 0;
  int attempts = 0;
  optimist::atomically([&] {
    ++attempts;
    optimist_store_u64(&word, 99);
    if (attempts == 1) optimist_tx_restart();
    optimist_store_u64(&word, static_cast<std::uint64_t>(attempts));
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(word, 2u);
}

// optimist_tx_retry in a C level inside a C++ block waits as optimist::retry() would: the block
// rolls back, sleeps until another thread changes what it read, and runs again.
TEST_F(CInsideCxxBlockTest, RetryInACLevelWaitsForTheBlocksReads) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("the producer's block waits for ours");
  optimist::test::watchdog guard("a block whose C level retries");
  for (int threads : {1, 2}) {
    std::uint64_t ready = 0, taken = 0;
    int attempts = 0;
    std::atomic<bool> retrying{false};
    std::thread producer([&] {
      // Once the C level has called optimist_tx_retry: the block waits for `ready`, or finds
      // it set at once.
      while (!retrying.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      optimist::atomically([&] { optimist::store(ready, std::uint64_t{1}); });
    });
    std::thread noise;
    if (threads == 2) noise = std::thread([] { optimist::atomically([] {}); });
    optimist::atomically([&] {
      ++attempts;
      int status;
      OPTIMIST_TX_BEGIN(status);
      ASSERT_EQ(status, OPTIMIST_OK);
      if (optimist_load_u64(&ready) == 0) {
        retrying.store(true);
        optimist_tx_retry();
      }
      optimist_store_u64(&taken, optimist_load_u64(&ready));
      ASSERT_EQ(optimist_tx_commit(), OPTIMIST_OK);
    });
    producer.join();
    if (noise.joinable()) noise.join();
    EXPECT_EQ(taken, 1u) << threads;
    EXPECT_GE(attempts, 2) << threads;
  }
}

}  // namespace

}  // namespace c_inside_cxx_block_test
