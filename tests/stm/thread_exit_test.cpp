// A thread's descriptor is given back when the thread ends, even when a
// thread_local destructor that runs after the runtime's own exit guard runs a
// transaction (INVARIANT released-at-exit, runtime/stm/thread_registry.cpp).
// A thread_local built before the thread's first transaction is destroyed
// after that guard (reverse order of construction); its destructor's block
// registered the thread again, and that descriptor and its count in the
// thread census leaked for good: auto mode never again saw a thread alone.
// Checked at 1, 2 and 4 threads ending that way.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/watchdog.hpp"
#include "support/white_box.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace thread_exit_test {

namespace {

optimist::tvar<long> g_flushed{0};

// A per-thread cache that flushes into shared memory when its thread ends.
struct flushing_cache {
  long pending = 0;
  ~flushing_cache() {
    const long n = pending;
    optimist::atomically([&] { g_flushed.set(g_flushed.get() + n); });
  }
};
thread_local flushing_cache t_cache;

class ThreadExit : public ::testing::TestWithParam<int> {};

TEST_P(ThreadExit, ATransactionInALateThreadLocalDestructorDoesNotLeakTheDescriptor) {
  optimist::test::watchdog guard("threads whose thread_local destructors run transactions");
  (void)optimist::detail::this_thread_transaction();  // this thread is counted already
  const long before = optimist::test::threads_with_descriptors();
  const long flushed_before = g_flushed.get();
  std::vector<std::thread> threads;
  for (int i = 0; i < GetParam(); ++i) {
    threads.emplace_back([] {
      t_cache.pending = 5;  // built before the thread's first transaction
      optimist::atomically([] { g_flushed.set(g_flushed.get() + 1); });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(g_flushed.get(), flushed_before + 6L * GetParam()) << "a cache was not flushed";
  EXPECT_EQ(optimist::test::threads_with_descriptors(), before)
      << "an ended thread still holds a descriptor";
}

INSTANTIATE_TEST_SUITE_P(Threads, ThreadExit, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace thread_exit_test
