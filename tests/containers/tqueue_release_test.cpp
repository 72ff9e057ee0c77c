// What a consumer popped is released before it sleeps on an empty tqueue
// (INVARIANT reclaimed-before-sleep, runtime/stm/retry.cpp). In speculative
// mode each pop retires the old head node, which holds a copy of an item
// popped earlier; reclamation ran only from retire() once a batch (256) had
// gathered, so a consumer that popped a few items and then waited kept them
// all alive as long as it waited (a T holding a buffer or a socket held it).
// The item popped last stays until the next pop (containers.hpp). Run in stm
// mode, with the consumer and a producer thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "optimist/containers.hpp"
#include "optimist/mode.hpp"
#include "optimist/stats.hpp"
#include "reclaim_at_exit.hpp"
#include "support/watchdog.hpp"
#include "support/white_box.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace tqueue_release_test {

namespace {

TEST(TqueueRelease, AConsumerThatWaitsHasReleasedWhatItPoppedButTheLast) {
  optimist::test::watchdog guard("a consumer waiting on an empty tqueue");
  const optimist::execution_mode before = optimist::execution_mode_now();
  optimist::set_execution_mode(optimist::execution_mode::stm);  // pops retire their old heads
  constexpr int items = 10;
  optimist::tqueue<std::shared_ptr<int>> queue;
  std::vector<std::weak_ptr<int>> watched;
  for (int i = 0; i < items; ++i) {
    auto item = std::make_shared<int>(i);
    watched.push_back(item);
    queue.push(std::move(item));
  }
  std::atomic<const std::atomic<std::uint64_t>*> consumer_retries{nullptr};
  std::uint64_t retries_before = 0;
  std::atomic<bool> counted{false};
  std::thread consumer([&] {
    const std::atomic<std::uint64_t>& mine = optimist::test::this_thread_retries();
    retries_before = mine.load();
    consumer_retries.store(&mine);
    counted.store(true);
    for (int i = 0; i < items; ++i) ASSERT_EQ(*queue.pop(), i);
    EXPECT_EQ(*queue.pop(), -1);  // waits on the empty queue
  });
  while (!counted.load()) std::this_thread::yield();
  // Until the consumer waits (its software retry is counted just before it sleeps).
  while (consumer_retries.load()->load() == retries_before) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // The count is bumped just before the reclamation that precedes the sleep: give it until the
  // items are gone (a bound, not a timing claim: without the reclamation they stay for ever).
  const auto alive = [&] {
    int n = 0;
    for (int i = 0; i < items - 1; ++i) n += watched[i].expired() ? 0 : 1;
    return n;
  };
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (alive() != 0 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(alive(), 0) << "items popped before the last were still held while the consumer slept";
  queue.push(std::make_shared<int>(-1));
  consumer.join();
  optimist::set_execution_mode(before);
}

}  // namespace

}  // namespace tqueue_release_test
