// What a thread's transaction logs hold between blocks (INVARIANT
// logs-bounded, runtime/stm/transaction.hpp): the read set, the redo log and
// its index, the undo log of serial mode keep their buffers from one block to
// the next, but not the size one huge block needed. After a block that
// reads and writes 2^20 words, a few hundred small blocks later the thread
// holds about what it held before.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/heap_bytes.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace log_memory_test {

namespace {

#if OPTIMIST_TEST_HEAP_BYTES
class LogMemoryTest : public ::testing::TestWithParam<optimist::execution_mode> {};

TEST_P(LogMemoryTest, AHugeBlockLeavesNoHugeLogsBehind) {
  const optimist::execution_mode mode = optimist::execution_mode_now();
  optimist::set_execution_mode(GetParam());
  std::vector<long> words(std::size_t{1} << 20, 1);
  // Small blocks first: the logs of earlier tests on this thread are trimmed too.
  for (int i = 0; i < 300; ++i) {
    optimist::atomically([&] { optimist::store(words[0], optimist::load(words[0]) + 0); });
  }
  const std::size_t before = optimist::test::heap_bytes_in_use();
  std::size_t peak = before;
  optimist::atomically([&] {
    for (long& w : words) optimist::store(w, optimist::load(w) + 1);
    peak = optimist::test::heap_bytes_in_use();
  });
  for (int i = 0; i < 300; ++i) {
    optimist::atomically([&] { optimist::store(words[1], optimist::load(words[1]) + 1); });
  }
  const std::size_t after = optimist::test::heap_bytes_in_use();
  optimist::set_execution_mode(mode);
  EXPECT_GT(peak, before + (std::size_t{16} << 20)) << "the block's logs took no memory: no test";
  EXPECT_LE(after, before + (std::size_t{4} << 20))
      << "before " << before << " B, peak " << peak << " B, after " << after << " B";
  EXPECT_EQ(words[0], 2);
  EXPECT_EQ(words[1], 302);
  EXPECT_EQ(words.back(), 2);
}

// The wait set of a retry() over many words goes too (the thread's waiter
// record reserves room for every orec read, so that registering allocates
// nothing). Before, 2^18 reads left about 8 MB with the thread for ever.
TEST(LogMemoryRetryTest, AHugeWaitSetLeavesNothingBehind) {
  const optimist::execution_mode mode = optimist::execution_mode_now();
  optimist::set_execution_mode(optimist::execution_mode::stm);  // serial mode reads in place
  std::vector<long> words(std::size_t{1} << 18, 1);
  long go = 0;
  std::atomic<bool> waiting{false};
  std::thread waker([&] {
    optimist::atomically([&] { (void)optimist::load(go); });  // its descriptor, before `before`
    while (!waiting.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // (asleep or not: it wakes)
    optimist::atomically([&] { optimist::store(go, 1L); });
  });
  for (int i = 0; i < 300; ++i) {
    optimist::atomically([&] { optimist::store(words[0], optimist::load(words[0]) + 0); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the waker's first block
  const std::size_t before = optimist::test::heap_bytes_in_use();
  long sum = 0;
  optimist::atomically([&] {
    sum = 0;
    for (const long& w : words) sum += optimist::load(w);
    if (optimist::load(go) == 0) {
      waiting.store(true);
      optimist::retry();
    }
  });
  waker.join();
  for (int i = 0; i < 300; ++i) {
    optimist::atomically([&] { optimist::store(words[1], optimist::load(words[1]) + 1); });
  }
  const std::size_t after = optimist::test::heap_bytes_in_use();
  optimist::set_execution_mode(mode);
  EXPECT_EQ(sum, static_cast<long>(words.size()));
  EXPECT_LE(after, before + (std::size_t{4} << 20))
      << "before " << before << " B, after " << after << " B";
}

INSTANTIATE_TEST_SUITE_P(Modes, LogMemoryTest,
                         ::testing::Values(optimist::execution_mode::stm,
                                           optimist::execution_mode::serial),
                         [](const ::testing::TestParamInfo<optimist::execution_mode>& info) {
                           return std::string(optimist::to_string(info.param));
                         });
#endif

}  // namespace

}  // namespace log_memory_test
