// tests/tasks/run_with.hpp — what the task tests share: run options for a
// thread count, the thread counts they are parameterised over, and a probe for
// how many tasks a run really executes at once.
//
//   q.run(optimist::test::run_with(GetParam()));
//   INSTANTIATE_TEST_SUITE_P(Threads, MySuite, optimist::test::task_thread_counts(),
//                            optimist::test::thread_count_name);
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "optimist/tasks.hpp"

namespace optimist::test {

// run_with(threads, ordered)
//   run_options for `threads` workers (more than this machine's cores is fine:
//   the runtime then really starts that many).
inline optimist::run_options run_with(int threads, bool ordered = false) {
  optimist::run_options options;
  options.threads = static_cast<unsigned>(threads);
  options.ordered = ordered;
  return options;
}

// The thread counts every parameterised task test runs at: one (the
// sequential baseline), two (this CI machine's cores) and four
// (oversubscribed).
inline auto task_thread_counts() {
  return ::testing::Values(1, 2, 4);
}

inline std::string thread_count_name(const ::testing::TestParamInfo<int>& info) {
  return std::to_string(info.param) + "_threads";
}

// busy_work(seed, rounds)
//   A few nanoseconds per round of work the compiler cannot remove: lengthens
//   a task body so that tasks on different workers really overlap (and
//   conflict) instead of one worker finishing the whole queue before the
//   others wake up.
inline std::uint64_t busy_work(std::uint64_t seed, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    asm volatile("" : "+r"(seed));
  }
  return seed;
}

// concurrency_probe
//   Tasks that measure how many of them run at the same time. Each task
//   returned by task() enters, waits until `target` tasks are inside at once
//   (or `patience` has passed), and leaves; peak() is the most that were ever
//   inside together. The tasks touch no transactional state, so their
//   transactions commit read-only on the first attempt and the plain counters
//   below count each task exactly once.
class concurrency_probe {
 public:
  concurrency_probe(int target, std::chrono::milliseconds patience)
      : target_(target), patience_(patience) {}

  auto task() {
    return [this] {
      const int now = inside_.fetch_add(1) + 1;
      int seen = peak_.load();
      while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
      }
      const auto give_up = std::chrono::steady_clock::now() + patience_;
      while (inside_.load() < target_ && peak_.load() < target_ &&
             std::chrono::steady_clock::now() < give_up) {
        std::this_thread::yield();
      }
      inside_.fetch_sub(1);
    };
  }

  int peak() const { return peak_.load(); }

 private:
  const int target_;
  const std::chrono::milliseconds patience_;
  std::atomic<int> inside_{0};
  std::atomic<int> peak_{0};
};

}  // namespace optimist::test
