// A C++ atomic block inside a C transaction (a C program calling a C++ library whose functions
// use optimist::atomically). The block nests in the C transaction (INVARIANT cxx-inside-c,
// runtime/stm/transaction.hpp); what must hold when it cannot finish:
//
// - a conflict found inside the C++ block unwinds its C++ frames (their destructors run) and
//   restarts the C transaction; the engine used to siglongjmp straight from the barrier to
//   OPTIMIST_TX_BEGIN, over those frames (a lock_guard stayed locked, memory leaked);
// - optimist::retry() inside the C++ block waits and runs the C transaction again (it was a
//   std::logic_error: "called inside a C transaction");
// - a C++ exception out of the C++ block rolls back the block's level and goes on to the C++
//   frames around it (a library catches it before it returns to C);
// - or_else directly in a C transaction runs its second alternative when the first retries;
// - a C transaction doomed while a destructor's block unwound runs again at its next C call.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include "optimist/atomically.hpp"
#include "optimist/retry.hpp"
#include "optimist/stm.h"
#include "optimist/tvar.hpp"
#include "support/serial_mode.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace cxx_inside_c_test {

namespace {

struct counted_frame {
  static inline int live = 0;
  counted_frame() { ++live; }
  ~counted_frame() { --live; }
  counted_frame(const counted_frame&) = delete;
  counted_frame& operator=(const counted_frame&) = delete;
};

// Another thread commits x + 1 and y + 1: y is then newer than a running transaction's
// snapshot, and reading it checks (and fails) the transaction's earlier read of x.
void add_one_to_both_in_another_thread(optimist::tvar<long>& x, optimist::tvar<long>& y) {
  std::thread([&] {
    optimist::atomically([&] {
      x.set(x.get() + 1);
      y.set(y.get() + 1);
    });
  }).join();
}

class CxxInsideCTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(optimist_thread_enter(), OPTIMIST_OK);
    counted_frame::live = 0;
  }
  void TearDown() override {
    EXPECT_FALSE(optimist::in_transaction());
    EXPECT_EQ(optimist_thread_exit(), OPTIMIST_OK);
  }
};

TEST_F(CxxInsideCTest, AConflictInsideTheCxxBlockRunsItsDestructorsAndRestartsTheCTransaction) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("another thread commits while the block runs");
  optimist::tvar<long> x{0}, y{0};
  std::uint64_t word = 0;
  volatile int attempts = 0;
  volatile int frames_left_behind = 0;
  int status;
  OPTIMIST_TX_BEGIN(status);
  EXPECT_EQ(status, OPTIMIST_OK);
  frames_left_behind = frames_left_behind + counted_frame::live;
  attempts = attempts + 1;
  const long sum = optimist::atomically([&] {
    counted_frame frame;
    const long seen = x.get();
    if (attempts == 1) {
      add_one_to_both_in_another_thread(x, y);
    }
    return seen + y.get();  // y is newer than the snapshot: x is checked, and has changed
  });
  optimist_store_u64(&word, static_cast<std::uint64_t>(sum));
  EXPECT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(frames_left_behind, 0) << "a restart jumped over the C++ block's frames";
  EXPECT_EQ(counted_frame::live, 0);
  EXPECT_EQ(word, 2u) << "x and y as the other thread left them";
}

TEST_F(CxxInsideCTest, RetryInsideTheCxxBlockWaitsAndRunsTheCTransactionAgain) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("the producer commits while the C transaction waits");
  optimist::test::watchdog guard("a C transaction whose C++ block retries");
  optimist::tvar<long> flag{0};
  std::uint64_t taken = 0;
  volatile int attempts = 0;
  std::atomic<bool> retrying{false};
  std::thread producer([&] {
    // Once the block has called retry(): it waits for the flag, or finds it set at once.
    while (!retrying.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    optimist::atomically([&] { flag.set(7); });
  });
  int status;
  OPTIMIST_TX_BEGIN(status);
  EXPECT_EQ(status, OPTIMIST_OK);
  attempts = attempts + 1;
  long got = -1;
  EXPECT_NO_THROW(got = optimist::atomically([&] {
                    counted_frame frame;
                    if (flag.get() == 0) {
                      retrying.store(true);
                      optimist::retry();
                    }
                    return flag.get();
                  }));
  optimist_store_u64(&taken, static_cast<std::uint64_t>(got));
  EXPECT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  producer.join();
  EXPECT_EQ(taken, 7u);
  EXPECT_GE(attempts, 2);
  EXPECT_EQ(counted_frame::live, 0);
}

// A C++ library called from C catches its exceptions before it returns to C. An exception out
// of its block rolls back only the block's level and reaches that handler; the C transaction
// goes on and commits.
int library_call(optimist::tvar<long>& x) noexcept {
  try {
    optimist::atomically([&] {
      counted_frame frame;
      x.set(99);
      throw std::runtime_error("thrown by the C++ library");
    });
  } catch (const std::runtime_error&) {
    return -1;
  }
  return 0;
}

TEST_F(CxxInsideCTest, AnExceptionOutOfTheCxxBlockReachesTheLibrarysHandler) {
  optimist::tvar<long> x{1};
  std::uint64_t word = 0;
  int rc = 0;
  int status;
  OPTIMIST_TX_BEGIN(status);
  EXPECT_EQ(status, OPTIMIST_OK);
  rc = library_call(x);
  optimist_store_u64(&word, 5);
  EXPECT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(word, 5u);
  EXPECT_EQ(x.get(), 1) << "the block's write was not rolled back";
  EXPECT_EQ(counted_frame::live, 0);
}

// or_else called directly in a C transaction: the first alternative's retry runs the second
// (it jumped back to OPTIMIST_TX_BEGIN and waited there, for ever here: nobody writes `never`).
TEST_F(CxxInsideCTest, OrElseRunsTheSecondAlternativeWhenTheFirstRetries) {
  optimist::tvar<long> never{0};
  volatile int attempts = 0;
  long got = 0;
  int status;
  OPTIMIST_TX_BEGIN(status);
  EXPECT_EQ(status, OPTIMIST_OK);
  attempts = attempts + 1;
  got = optimist::or_else(
      [&] {
        if (never.get() == 0) optimist::retry();
        return 1L;
      },
      [&] { return 2L; });
  EXPECT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  EXPECT_EQ(got, 2);
  EXPECT_EQ(attempts, 1);
}

// A destructor's block that loses a conflict while an exception unwinds (caught inside the
// library) dooms the C transaction: its next C call must run it again, not throw
// restart_signal into the C frames (std::terminate).
struct reads_on_destruction {
  optimist::tvar<long>* y;
  ~reads_on_destruction() {
    optimist::atomically([&] { (void)y->get(); });
  }
};

TEST_F(CxxInsideCTest, ADoomedCTransactionRunsAgainAtItsNextCall) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("another thread commits while the C transaction runs");
  optimist::tvar<long> x{0}, y{0};
  std::uint64_t word = 0;
  volatile int attempts = 0;
  int status;
  OPTIMIST_TX_BEGIN(status);
  EXPECT_EQ(status, OPTIMIST_OK);
  attempts = attempts + 1;
  const long seen = x.get();
  if (attempts == 1) {
    add_one_to_both_in_another_thread(x, y);
    try {
      reads_on_destruction guard{&y};  // y is newer than the snapshot, and x has changed
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
    }
  }
  optimist_store_u64(&word, static_cast<std::uint64_t>(seen) + 10);
  EXPECT_EQ(optimist_tx_commit(), OPTIMIST_OK);
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(word, 11u);
}

}  // namespace

}  // namespace cxx_inside_c_test
