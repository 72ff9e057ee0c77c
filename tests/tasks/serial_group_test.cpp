// Auto mode runs unordered element groups serially when its controller says
// so (or the thread is alone), as serial mode does (both modes run these): one block for the group,
// its in-place writes undone through the undo log if it gives way or throws.
// These tests force the verdict to serial (the controller's test seam) and
// check that nothing a group does or undoes is lost or repeated:
//   - every element commits exactly once and a hot counter adds up, while
//     some elements join a thread whose standalone write waits at the gate
//     the group holds (the group gives way: its writes are undone, the write
//     goes in, the group runs again speculatively);
//   - an element that becomes inevitable splits its group first (its I/O
//     runs once, from a transaction of its own).
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/serial_verdict.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "tasks/run_with.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace serial_group_test {

namespace {

using optimist::test::run_with;
using optimist::test::scaled;
using optimist::test::watchdog;

class SerialGroupTest : public optimist::test::serial_verdict_test {};

TEST_P(SerialGroupTest, GroupsThatGiveWayToAJoinedWriterLoseNothing) {
  const std::size_t n = static_cast<std::size_t>(scaled(4000));
  constexpr std::size_t every = 64;  // elements that join a writer
  std::vector<long> commits(n, 0);
  std::vector<std::unique_ptr<optimist::tvar<long>>> outside(n / every + 1);
  for (auto& o : outside) o = std::make_unique<optimist::tvar<long>>(0);
  std::vector<std::atomic<bool>> joined(outside.size());
  optimist::tvar<long> total{0};
  optimist::add_tasks(std::size_t{0}, n, [&](std::size_t i) {
    optimist::store(commits[i], optimist::load(commits[i]) + 1);
    total.set(total.get() + 1);
    if (i % every != 0) return;
    optimist::tvar<long>& o = *outside[i / every];
    // Read before the flag is taken: an attempt already lost (given way, or a
    // conflict) restarts at this read, and must not take the flag.
    const long seen = o.get();
    if (!joined[i / every].exchange(true)) {
      std::thread([&o, seen] { o.set(seen + 1); }).join();
      (void)o.get();  // restarts: given way (serial) or a conflict (speculative)
      ADD_FAILURE() << "element " << i << " survived a write to what it had read";
    }
  });
  {
    watchdog guard("serial groups that give way to a joined writer");
    optimist::run_all_tasks(run_with(GetParam()));
  }
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(commits[i], 1) << "element " << i;
  for (std::size_t k = 0; k < outside.size(); ++k)
    EXPECT_EQ(outside[k]->get(), 1) << "the write of joined writer " << k << " was lost";
  EXPECT_EQ(total.get(), static_cast<long>(n));
  EXPECT_GT(optimist::stats().serial_commits, 0u) << "nothing ran serially";
}

TEST_P(SerialGroupTest, AnElementThatBecomesInevitableRunsItsIOnce) {
  const std::size_t n = static_cast<std::size_t>(scaled(2000));
  std::vector<long> commits(n, 0);
  std::vector<std::atomic<int>> io(n);  // the "I/O": counted outside the STM
  optimist::add_tasks(std::size_t{0}, n, [&](std::size_t i) {
    optimist::store(commits[i], optimist::load(commits[i]) + 1);
    if (i % 97 == 5) {
      optimist::become_inevitable();
      io[i].fetch_add(1);
    }
  });
  {
    watchdog guard("serial groups with inevitable elements");
    optimist::run_all_tasks(run_with(GetParam()));
  }
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(commits[i], 1) << "element " << i;
    ASSERT_EQ(io[i].load(), i % 97 == 5 ? 1 : 0) << "element " << i;
  }
  EXPECT_GT(optimist::stats().serial_commits, 0u) << "nothing ran serially";
}

INSTANTIATE_TEST_SUITE_P(Threads, SerialGroupTest, optimist::test::task_thread_counts(),
                         optimist::test::thread_count_name);

}  // namespace

}  // namespace serial_group_test
