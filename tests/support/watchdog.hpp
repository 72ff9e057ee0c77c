// tests/support/watchdog.hpp — turns a hang into a clear failure.
//
//   optimist::test::watchdog guard("4 threads on one hot word");
//   ... code that must finish ...
//
// A watchdog started with a description waits on its own thread; if it is not
// destroyed within the limit (120 s times OPTIMIST_STRESS by default), it
// prints which test hung and what it was doing, and aborts the process: a
// test that never returns cannot report anything, and ctest's timeout would
// only say "timeout". Destroying the watchdog stops it at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/stress.hpp"

namespace optimist::test {

class watchdog {
 public:
  explicit watchdog(std::string what,
                    std::chrono::seconds limit = std::chrono::seconds(120 * stress_scale()))
      : what_(std::move(what)), thread_([this, limit] { watch(limit); }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void watch(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (wake_.wait_for(lock, limit, [this] { return done_; })) return;
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::fprintf(stderr,
                 "\nwatchdog: %s%s%s did not finish within %lld s while %s; "
                 "aborting instead of hanging (a livelock or deadlock in the STM?)\n",
                 test != nullptr ? test->test_suite_name() : "", test != nullptr ? "." : "",
                 test != nullptr ? test->name() : "test", static_cast<long long>(limit.count()),
                 what_.c_str());
    std::fflush(stderr);
    std::abort();
  }

  std::string what_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the other members exist
};

}  // namespace optimist::test
