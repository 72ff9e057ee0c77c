// Bad input to a run gives a clear exception before the run takes any task:
// every task added stays queued (pending()) and runs once the caller fixes
// the input.
//
//   - run_options::threads above the bound of OPTIMIST_THREADS (4096), e.g.
//     (unsigned)-1 from an int that went negative: std::invalid_argument
//     naming the value (issue 11, item 12; reproducer r6_threads_option.cpp).
//   - OPTIMIST_MODE=foo: std::invalid_argument naming the value, and no task
//     lost (item 8; r2_bad_mode_loses_task.cpp). The process-wide mode is
//     read from the environment once per process, so that case runs in a
//     fresh process of its own (a death test in the threadsafe style, which
//     re-executes this binary for the one test).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "optimist/optimist.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace bad_input_test {

namespace {

using optimist::test::run_with;

class BadThreadCountTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(BadThreadCountTest, IsRefusedByNameAndKeepsEveryTask) {
  const unsigned threads = GetParam();
  long count = 0;
  optimist::task_queue q;
  for (int i = 0; i < 10; ++i) q.add([&] { optimist::store(count, optimist::load(count) + 1); });
  optimist::run_options options;
  options.threads = threads;
  try {
    q.run(options);
    FAIL() << "a run with run_options::threads = " << threads << " was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("run_options::threads"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(threads)), std::string::npos) << what;
    EXPECT_NE(what.find("4096"), std::string::npos) << what;
  }
  EXPECT_THROW(optimist::resolve_thread_count(options), std::invalid_argument);
  EXPECT_EQ(count, 0);
  EXPECT_EQ(q.pending(), 10u);
  q.run(run_with(2));
  EXPECT_EQ(count, 10);
  EXPECT_EQ(q.pending(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Values, BadThreadCountTest,
                         ::testing::Values(4097u, 50'000u, static_cast<unsigned>(-1)));

TEST(ThreadCountBoundTest, TheLargestAllowedCountIsAccepted) {
  optimist::run_options options;
  options.threads = 4096;
  EXPECT_EQ(optimist::resolve_thread_count(options), 4096u);
}

// In the child: OPTIMIST_MODE=foo before anything reads the mode; exits 0 only
// if the run threw naming the value, kept all 1000 tasks, and a run after the
// program recovered ran each exactly once.
[[noreturn]] void bad_mode_keeps_every_task() {
  ::setenv("OPTIMIST_MODE", "foo", 1);
  const long n = 1000;
  long count = 0;
  optimist::task_queue q;
  for (long i = 0; i < n; ++i) q.add([&] { optimist::store(count, optimist::load(count) + 1); });
  bool named = false;
  try {
    q.run(run_with(2));
  } catch (const std::invalid_argument& e) {
    named = std::string(e.what()).find("OPTIMIST_MODE=\"foo\"") != std::string::npos;
    std::fprintf(stderr, "run 1 threw: %s\n", e.what());
  }
  const std::size_t kept = q.pending();
  optimist::set_execution_mode(optimist::execution_mode::stm);  // the program recovers
  q.run(run_with(2));
  std::fprintf(stderr, "named=%d kept=%zu ran=%ld of %ld\n", named, kept, count, n);
  std::exit(named && kept == static_cast<std::size_t>(n) && count == n ? 0 : 1);
}

TEST(BadModeTest, OptimistModeFooIsNamedAndNoTaskIsLost) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(bad_mode_keeps_every_task(), ::testing::ExitedWithCode(0),
              "named=1 kept=1000 ran=1000");
}

}  // namespace

}  // namespace bad_input_test
