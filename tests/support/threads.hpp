// tests/support/threads.hpp — running a test body on several threads at once.
//
//   optimist::test::run_threads(GetParam(), [&](int index) { ... });
//
// run_threads(count, body)
//   Starts `count` threads, releases them together (so that they really
//   overlap even on a machine with fewer cores), calls body(index) with
//   index 0..count-1 on each and joins them all. An exception escaping a body
//   is reported as a test failure naming the thread instead of terminating the
//   process. gtest's EXPECT_* macros may be used inside the body (they are
//   thread-safe); ASSERT_* only returns from the body.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <thread>
#include <vector>

namespace optimist::test {

template <class Body>
void run_threads(int count, Body&& body) {
  // A spinning (yielding) start line rather than a std::latch: a latch's
  // sleepers wake one by one, tens of microseconds apart, which is long
  // enough for a fast thread to finish a small stress loop alone.
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(count));
  for (int index = 0; index < count; ++index) {
    threads.emplace_back([&, index] {
      arrived.fetch_add(1);
      while (arrived.load() < count) std::this_thread::yield();
      try {
        body(index);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << index << " ended with an exception: " << e.what();
      } catch (...) {
        ADD_FAILURE() << "thread " << index << " ended with an exception of unknown type";
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace optimist::test
