// run_options::mode: a run of tasks uses its own execution mode on every one
// of its threads, whatever the process-wide mode, and leaves the process mode
// as it was. On a CPU without TSX, htm means simulated attempts, which still
// count as hardware attempts in stats(); so "attempts > 0" holds on any CPU.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "htm/site_policy.hpp"
#include "optimist/optimist.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace run_mode_test {

namespace {

class RunMode : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    previous_ = optimist::execution_mode_now();
    optimist::detail::forget_hardware_policy();
  }
  void TearDown() override { optimist::set_execution_mode(previous_); }

  // Runs `count` tasks, each adding one to its own tvar, and checks the sums.
  void run_tasks(const optimist::run_options& options, int count) {
    std::vector<optimist::tvar<long>> cells(static_cast<std::size_t>(count));
    optimist::task_queue queue;
    for (auto& cell : cells) queue.add([&cell] { cell = cell.get() + 1; });
    queue.run(options);
    for (auto& cell : cells) EXPECT_EQ(cell.get(), 1);
    EXPECT_EQ(queue.pending(), 0u);
  }

 private:
  optimist::execution_mode previous_ = optimist::execution_mode::automatic;
};

TEST_P(RunMode, HardwareFirstForOneRunOnly) {
  optimist::set_execution_mode(optimist::execution_mode::stm);
  optimist::reset_stats();
  optimist::run_options options;
  options.threads = GetParam();
  options.mode = optimist::execution_mode::htm;
  run_tasks(options, 64);
  EXPECT_GT(optimist::stats().hardware.attempts, 0u);
  EXPECT_EQ(optimist::execution_mode_now(), optimist::execution_mode::stm);

  // The next run without a mode uses the process mode again: no attempts.
  optimist::reset_stats();
  options.mode.reset();
  run_tasks(options, 64);
  EXPECT_EQ(optimist::stats().hardware.attempts, 0u);
}

TEST_P(RunMode, SoftwareOnlyForOneRun) {
  optimist::set_execution_mode(optimist::execution_mode::htm);
  optimist::reset_stats();
  optimist::run_options options;
  options.threads = GetParam();
  options.mode = optimist::execution_mode::stm;
  run_tasks(options, 64);
  EXPECT_EQ(optimist::stats().hardware.attempts, 0u);
  EXPECT_EQ(optimist::execution_mode_now(), optimist::execution_mode::htm);
}

TEST_P(RunMode, ABadModeIsRefusedAndNothingIsLost) {
  optimist::task_queue queue;
  optimist::tvar<long> ran{0};
  queue.add([&] { ran = ran.get() + 1; });
  optimist::run_options options;
  options.threads = GetParam();
  options.mode = static_cast<optimist::execution_mode>(9);
  try {
    queue.run(options);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("run_options::mode"), std::string::npos) << e.what();
  }
  EXPECT_EQ(queue.pending(), 1u);
  options.mode.reset();
  queue.run(options);
  EXPECT_EQ(ran.get(), 1);
}

// set_execution_mode inside an atomic block is refused: each outermost block takes the mode at
// its start, so the call would change nothing of the block, and to or from htm it must not happen
// while transactions run. The block rolls back with the exception; the mode is unchanged.
TEST(SetExecutionModeTest, InsideABlockIsALogicErrorAndChangesNothing) {
  const optimist::execution_mode before = optimist::execution_mode_now();
  optimist::tvar<long> x{0};
  try {
    optimist::atomically([&] {
      x.set(1);
      optimist::set_execution_mode(optimist::execution_mode::htm);
    });
    FAIL() << "set_execution_mode inside a block was accepted";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("inside an atomic block"), std::string::npos) << e.what();
  }
  EXPECT_EQ(optimist::execution_mode_now(), before);
  EXPECT_EQ(x.get(), 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, RunMode, ::testing::Values(1u, 2u, 4u),
                         [](const auto& param) { return std::to_string(param.param) + "threads"; });

}  // namespace

}  // namespace run_mode_test
