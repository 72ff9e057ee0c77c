// The serial lane (runtime/tasks/serial_lane.hpp): in an unordered run whose
// blocks run serially, one worker at a time takes work, and the others wait
// for it only while it makes progress (INVARIANT lane-never-blocks).
//   - the lane itself, on one thread with stand-in workers: who holds it, who
//     waits, when a waiter goes on without it;
//   - a run at 2 and 4 workers, auto mode with the verdict forced to serial,
//     where the first task waits (outside the STM) for a later task of the
//     same run: without the stall rule its worker would hold the lane for
//     ever and the later task would never be claimed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/serial_verdict.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"
#include "tasks/serial_lane.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace serial_lane_test {

namespace {

using optimist::detail::serial_lane;
using optimist::test::run_with;
using optimist::test::watchdog;

constexpr std::uint64_t an_hour_ns = 3'600'000'000'000ull;

TEST(SerialLane, TheFirstWorkerTakesItAndOthersWaitWhileItProgresses) {
  serial_lane lane(an_hour_ns);
  lane.reset();
  int first = 0, second = 0;
  serial_lane::wait_state w1, w2;
  EXPECT_TRUE(lane.admit(&first, w1));
  EXPECT_TRUE(lane.admit(&first, w1)) << "the holder keeps the lane";
  EXPECT_FALSE(lane.admit(&second, w2));
  lane.note_progress();
  EXPECT_FALSE(lane.admit(&second, w2));
  EXPECT_FALSE(lane.admit(&second, w2));
  lane.leave(&second);  // not the holder: changes nothing
  EXPECT_FALSE(lane.admit(&second, w2));
  lane.leave(&first);
  EXPECT_TRUE(lane.admit(&second, w2)) << "a free lane is taken";
  EXPECT_FALSE(lane.admit(&first, w1));
  lane.leave(&second);
}

TEST(SerialLane, AWaiterGoesOnWhenTheHolderStalls) {
  serial_lane lane(/*stall_ns=*/1'000'000);  // 1 ms
  lane.reset();
  int holder = 0, waiter = 0;
  serial_lane::wait_state wh, ww;
  ASSERT_TRUE(lane.admit(&holder, wh));
  EXPECT_FALSE(lane.admit(&waiter, ww));  // starts watching the holder's progress
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  EXPECT_TRUE(lane.admit(&waiter, ww)) << "no progress for longer than the stall time";
  EXPECT_TRUE(lane.admit(&waiter, ww)) << "still stalled";
  lane.note_progress();  // the holder moves again: the waiter waits again
  EXPECT_FALSE(lane.admit(&waiter, ww));
  lane.leave(&holder);
}

// Auto mode with the controller's verdict held at serial (its test seam), as
// in serial_group_test.cpp.
class SerialLaneRunTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    // Serial mode's blocks do not give way to serial waiters (serial_mode.hpp),
    // so a task that waits for another one hangs there with or without the
    // lane; stm and htm have no serial blocks.
    if (optimist::execution_mode_now() != optimist::execution_mode::automatic)
      GTEST_SKIP() << "the lane beside a waiting task: auto mode";
    forced_.emplace();
  }
  std::optional<optimist::test::serial_verdict> forced_;
};

TEST_P(SerialLaneRunTest, ATaskThatWaitsForALaterTaskOfTheRunDoesNotHang) {
  constexpr std::size_t n = 4000;
  constexpr std::size_t setter = 3000;  // in a later chunk than task 0 at any thread count
  std::vector<long> commits(n, 0);
  std::atomic<bool> set{false};
  optimist::add_tasks(std::size_t{0}, n, [&](std::size_t i) {
    optimist::store(commits[i], optimist::load(commits[i]) + 1);
    if (i == setter) set.store(true);
    if (i == 0) {
      while (!set.load()) std::this_thread::yield();
    }
  });
  {
    watchdog guard("a task of a serial run that waits for a later task");
    optimist::run_all_tasks(run_with(GetParam()));
  }
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(commits[i], 1) << "task " << i;
}

INSTANTIATE_TEST_SUITE_P(Threads, SerialLaneRunTest, ::testing::Values(2, 4),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace serial_lane_test
