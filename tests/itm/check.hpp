// tests/itm/check.hpp — what the -fgnu-tm test programs share (they are plain
// programs, not GoogleTest: g++ -fgnu-tm and gtest's headers do not mix well):
// a failed check is printed and counted, main() returns g_failed != 0.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_failed = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "  check failed: %s\n", what.c_str());
    ++g_failed;
  }
}

// OPTIMIST_STRESS as a multiplier (1 when unset), as in the GoogleTest suites.
long stress_scale() {
  const char* text = std::getenv("OPTIMIST_STRESS");
  return text != nullptr && std::atol(text) > 0 ? std::atol(text) : 1;
}

// Bank transfers at `threads` threads: the `count` accounts start at 1,000 each; every thread
// makes `per_thread` transfers of 0 to 6 between pseudo-random accounts, each through
// transfer(from, to, amount, i) (the caller's transaction; i counts the thread's transfers);
// then the total must be what it was. Returns the number of transfers.
template <class Transfer>
long check_transfers(long* accounts, int count, int threads, long per_thread,
                     const std::string& what, Transfer transfer) {
  for (int a = 0; a < count; ++a) accounts[a] = 1000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([=] {
      unsigned s = 17u + 7919u * static_cast<unsigned>(t);
      for (long i = 0; i < per_thread; ++i) {
        s = s * 1103515245u + 12345u;
        transfer(static_cast<int>((s >> 8) % static_cast<unsigned>(count)),
                 static_cast<int>((s >> 16) % static_cast<unsigned>(count)),
                 static_cast<long>(s % 7), i);
      }
    });
  }
  for (auto& w : workers) w.join();
  long sum = 0;
  for (int a = 0; a < count; ++a) sum += accounts[a];
  check(sum == 1000L * count, what + ", " + std::to_string(threads) + " threads: sum " +
                                  std::to_string(sum) + ", expected " +
                                  std::to_string(1000L * count));
  return per_thread * threads;
}

// Runs `body` in a child process (so that what it sets, OPTIMIST_MODE say, and what it leaves
// stay there) and checks that the child exits 0 within `seconds`.
template <class Body>
void in_child(const char* what, Body body, unsigned seconds = 60) {
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) std::exit(2);
  if (child == 0) {
    alarm(seconds);  // a hang fails the check below instead of the ctest timeout
    body();
    std::exit(g_failed == 0 ? 0 : 1);  // (exit, not _exit: a report is written at exit)
  }
  int status = 0;
  waitpid(child, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        std::string(what) + ": the child failed (status " + std::to_string(status) +
            (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM
                 ? ": hung for " + std::to_string(seconds) + " s"
                 : "") +
            ")");
}

}  // namespace
