// kill -9 torture: a child process commits ledger transfers on 1 or 2
// threads and acknowledges each through a pipe once atomically() has
// returned; the parent kills it with SIGKILL at a random moment, reopens the
// store (recovery) and checks that nothing acknowledged was lost, nothing was
// invented and every balance equals the replay of the transfers recovered
// (tests/durable/ledger_workload.hpp). Rounds continue from the recovered
// state; the small log makes checkpoints (and so stale records of earlier
// epochs) frequent. OPTIMIST_STRESS multiplies the rounds.
//
// Negative control: with recovery trusting records of earlier log epochs
// (fault trust_stale_records), the same check must fail.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "durable/fault_injection.hpp"
#include "durable/ledger_workload.hpp"
#include "support/stress.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace kill9_test {

namespace {

namespace durable = optimist::durable;
using optimist::test::ledger;

struct ack {
  std::uint32_t thread;
  std::uint32_t sequence;
};

durable::options torture_options() {
  durable::options o;
  o.heap_size = 1 << 20;
  o.log_size = 64 << 10;  // ~200 transfers per epoch: frequent checkpoints
  return o;
}

[[noreturn]] void run_child(const std::string& path, int threads, int ack_fd) {
  try {
    auto* store = new durable::store(path, torture_options());  // never closed: killed
    ledger& l = store->root<ledger>("ledger");
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        try {
          for (std::uint64_t s = l.last[t].get() + 1;; ++s) {
            optimist::test::perform_transfer(*store, l, t, s);
            ack a{static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(s)};
            if (::write(ack_fd, &a, sizeof a) != sizeof a) std::_Exit(4);
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "child: %s\n", e.what());
          std::_Exit(3);
        }
      });
    }
    for (auto& w : workers) w.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child: %s\n", e.what());
  }
  std::_Exit(3);
}

// Runs `rounds` kill -9 rounds; returns the first problem found ("" if none).
std::string torture(const std::string& path, int threads, long rounds, std::uint64_t seed,
                    long* total_acked) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> acked(threads, 0);
  for (long round = 0; round < rounds; ++round) {
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    pid_t child = ::fork();
    if (child < 0) return "fork failed";
    if (child == 0) {
      ::close(fds[0]);
      run_child(path, threads, fds[1]);
    }
    ::close(fds[1]);
    // Kill after a random number of acknowledgements (1..60), or 2 s at most.
    const long kill_after = 1 + static_cast<long>(rng() % 60);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    long seen = 0;
    bool killed = false;
    auto take = [&](const ack& a) {
      if (a.thread < acked.size() && a.sequence > acked[a.thread]) acked[a.thread] = a.sequence;
      ++seen;
      ++*total_acked;
    };
    while (true) {
      if (!killed && (seen >= kill_after || std::chrono::steady_clock::now() > give_up)) {
        // A little random delay so that the kill lands anywhere in a commit.
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        ::kill(child, SIGKILL);
        killed = true;
      }
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ack a;
      ssize_t n = ::read(fds[0], &a, sizeof a);
      if (n == 0) break;  // the child is gone and the pipe drained
      if (n != sizeof a) continue;
      take(a);
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFSIGNALED(status)) {
      return "round " + std::to_string(round) + ": the child ended by itself (status " +
             std::to_string(status) + ")";
    }
    try {
      durable::store store(path, torture_options());
      ledger& l = store.root<ledger>("ledger");
      std::string problem = optimist::test::check_ledger(store, l, acked);
      if (!problem.empty()) return "round " + std::to_string(round) + ": " + problem;
      for (int t = 0; t < threads; ++t) acked[t] = l.last[t].get();  // the child resumes here
    } catch (const std::exception& e) {
      return "round " + std::to_string(round) + ": reopen failed: " + e.what();
    }
  }
  return "";
}

std::string fresh_store() {
  char pattern[] = "/tmp/optimist-kill9-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return "";
  return std::string(pattern) + "/ledger.store";
}

class Kill9 : public ::testing::TestWithParam<int> {};

TEST_P(Kill9, AcknowledgedTransfersSurviveAndNothingIsInvented) {
  const std::string path = fresh_store();
  long acked = 0;
  std::string problem =
      torture(path, GetParam(), optimist::test::scaled(12), 0x5eed + GetParam(), &acked);
  EXPECT_EQ(problem, "");
  EXPECT_GT(acked, 0);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_P(Kill9, NegativeControlReplayingStaleRecordsIsCaught) {
  const std::string path = fresh_store();
  durable::detail::g_faults.trust_stale_records = true;
  long acked = 0;
  std::string problem =
      torture(path, GetParam(), optimist::test::scaled(12), 0xbad + GetParam(), &acked);
  durable::detail::g_faults.trust_stale_records = false;
  EXPECT_NE(problem, "") << "the torture did not notice recovery replaying stale records";
  EXPECT_EQ(problem.find("ended by itself"), std::string::npos) << problem;
  std::printf("negative control caught: %s\n", problem.c_str());
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

INSTANTIATE_TEST_SUITE_P(Threads, Kill9, ::testing::Values(1, 2));

}  // namespace

}  // namespace kill9_test
