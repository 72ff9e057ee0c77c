// tests/support/child_process.hpp — waiting for a child process without hanging.
//
//   std::optional<int> status = optimist::test::wait_for_child(child);
//   ASSERT_TRUE(status.has_value());   // the child was killed: a failure was added
//
// wait_for_child(child, limit)
//   Polls waitpid(child, WNOHANG) until the child ends, and returns its wait
//   status. A child still running after `limit` (60 s times OPTIMIST_STRESS
//   by default: a hang, not a slow machine) is killed with SIGKILL and reaped,
//   a gtest failure naming it is added, and the result is empty. A failed
//   waitpid adds a failure too. Never a timing assertion: the limit only
//   turns a hang into a failure.
#pragma once

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "support/stress.hpp"

namespace optimist::test {

inline std::optional<int> wait_for_child(
    pid_t child, std::chrono::seconds limit = std::chrono::seconds(60 * stress_scale())) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t got = waitpid(child, &status, WNOHANG);
    if (got == child) return status;
    if (got == -1 && errno != EINTR) {
      ADD_FAILURE() << "waitpid(" << child << ") failed: " << std::strerror(errno);
      return std::nullopt;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(child, SIGKILL);
      while (waitpid(child, &status, 0) == -1 && errno == EINTR) {
      }
      ADD_FAILURE() << "child process " << child << " still ran after " << limit.count()
                    << " s: killed";
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace optimist::test
