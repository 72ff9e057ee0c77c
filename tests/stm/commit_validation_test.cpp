// Commit-time validation and its one-thread shortcut (INVARIANT sole-thread,
// runtime/stm/thread_census.hpp): a writing commit skips revalidating its
// read set only when no other thread could have committed since its attempt
// began. Checked: a thread that appears, commits to a word the transaction
// read and ends again before the commit — leaving the count of threads as it
// was — still invalidates the read (the census's generation changed); so does
// a thread that was there all along; and with one thread, commits still see
// their own earlier writes.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "optimist/optimist.hpp"
#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"
#include "support/serial_mode.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace commit_validation_test {

namespace {

using optimist::test::watchdog;

long threads_with_descriptors() {
  return static_cast<long>(optimist::detail::census_now() & optimist::detail::census_count_mask);
}

// The transaction runs on this (registered) thread; the writer is a new
// thread that registers, writes the word the transaction read, and ends.
TEST(CommitValidation, AThreadThatCameAndWentMeanwhileStillInvalidatesTheRead) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  watchdog guard("a transaction invalidated by a short-lived thread");
  optimist::tvar<long> w{1}, y{0};
  (void)optimist::detail::this_thread_transaction();
  ASSERT_EQ(threads_with_descriptors(), 1)
      << "precondition: this test's thread is the only one holding a descriptor";
  int attempts = 0;
  optimist::atomically([&] {
    ++attempts;
    long seen = w.get();
    if (attempts == 1) std::thread([&] { w = 10; }).join();  // registers, commits, ends
    y.set(seen + 1);
  });
  EXPECT_EQ(attempts, 2) << "the commit kept a read another thread had overwritten";
  EXPECT_EQ(y.get(), 11);
}

// The writer was registered before the transaction began and is still there.
TEST(CommitValidation, AThreadThatWasThereAllAlongInvalidatesTheRead) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  watchdog guard("a transaction invalidated by a running thread");
  optimist::tvar<long> w{1}, y{0};
  std::atomic<int> phase{0};
  std::thread writer([&] {
    (void)optimist::detail::this_thread_transaction();  // registered from the start
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
    w = 10;
    phase.store(3);
  });
  while (phase.load() != 1) std::this_thread::yield();
  int attempts = 0;
  optimist::atomically([&] {
    ++attempts;
    long seen = w.get();
    if (attempts == 1) {
      phase.store(2);
      while (phase.load() != 3) std::this_thread::yield();
    }
    y.set(seen + 1);
  });
  writer.join();
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(y.get(), 11);
}

// One thread: the shortcut applies, and sequences of transactions still
// compose (each sees the previous one's writes, whatever their stamps).
TEST(CommitValidation, OneThreadCommitsInOrder) {
  optimist::tvar<long> a{0}, b{0};
  for (int i = 0; i < 1000; ++i) {
    optimist::atomically([&] {
      long x = a.get();
      b.set(x);
      a.set(x + 1);
    });
  }
  EXPECT_EQ(a.get(), 1000);
  EXPECT_EQ(b.get(), 999);
}

}  // namespace

}  // namespace commit_validation_test
