// How often reclamation fences every thread (INVARIANT batched-fences,
// runtime/memory/epoch_reclaimer.cpp).
//
// Each scan of the start times costs a membarrier(2) that interrupts every CPU
// running a thread of the process. A thread that retires objects while other
// threads run long transactions cannot destroy them yet; it must not scan
// again at every further retirement (issue 11 item 7: ~8,000 membarriers in a
// 1.2 s run), but at most once per batch of retirements. And once the readers
// are gone, everything retired is still destroyed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/optimist.hpp"
#include "stm/thread_census.hpp"
#include "stm/transaction.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"
#include "support/white_box.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace reclamation_fences_test {

namespace {

// The batch of epoch_reclaimer.cpp: a scan needs this many new retirements,
// or this many bytes of them.
constexpr std::uint64_t reclaim_batch = 256;
constexpr std::size_t reclaim_bytes = std::size_t{1} << 20;

std::atomic<long> g_live{0};

struct counted {
  counted() { g_live.fetch_add(1); }
  ~counted() { g_live.fetch_sub(1); }
  counted(const counted&) = delete;
  counted& operator=(const counted&) = delete;
};

class ReclamationFencesTest : public ::testing::TestWithParam<int> {};

// GetParam() readers sit in transactions that started before every deletion,
// so nothing deleted meanwhile may be destroyed. The deleting thread retires
// many objects; it may scan once per batch, not once per retirement.
TEST_P(ReclamationFencesTest, PinnedObjectsDoNotMakeEveryRetirementFence) {
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY("readers stay in their blocks while another thread deletes");
  const int readers = GetParam();
  const long deletions = 2000 * optimist::test::stress_scale();
  optimist::test::watchdog guard("deleting objects while readers pin them");
  optimist::tvar<long> shared{7};
  std::atomic<int> inside{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&] {
      bool counted_in = false;  // an attempt may run twice (hardware, then software)
      optimist::atomically([&] {
        EXPECT_EQ(shared.get(), 7);
        if (!counted_in) {
          counted_in = true;
          inside.fetch_add(1);
        }
        while (!done.load()) std::this_thread::yield();
      });
    });
  }
  while (inside.load() < readers) std::this_thread::yield();
  const std::uint64_t fences_before = optimist::detail::heavy_fence_count();
  for (long i = 0; i < deletions; ++i) optimist::tx_delete(new counted);
  const std::uint64_t fences = optimist::detail::heavy_fence_count() - fences_before;
  EXPECT_EQ(g_live.load(), deletions) << "an object was destroyed while readers could hold it";
  done.store(true);
  for (std::thread& t : threads) t.join();

  EXPECT_LE(fences, static_cast<std::uint64_t>(deletions) / reclaim_batch + 1)
      << "reclamation fenced " << fences << " times for " << deletions << " retirements";
  optimist::detail::reclaim_now();
  EXPECT_EQ(g_live.load(), 0) << "the readers have finished: everything retired must be destroyed";
}

// Threads that delete in transactions while the others run: whatever the
// interleaving, the number of scans stays within two per batch of
// retirements (INVARIANT batched-fences), and every object is destroyed in
// the end.
TEST_P(ReclamationFencesTest, DeletingThreadsFenceOncePerBatch) {
  const int threads_count = GetParam();
  const long per_thread = 3000 * optimist::test::stress_scale();
  optimist::test::watchdog guard("threads allocating and deleting in transactions");
  optimist::tvar<counted*> slots[4];
  const std::uint64_t fences_before = optimist::detail::heavy_fence_count();
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&, t] {
      for (long i = 0; i < per_thread; ++i) {
        optimist::atomically([&] {
          counted* fresh = optimist::tx_new<counted>();
          counted* old = slots[t].get();
          if (old != nullptr) optimist::tx_delete(old);
          slots[t].set(fresh);
          for (const auto& s : slots) (void)s.get();  // some reads, so that the threads overlap
        });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::uint64_t fences = optimist::detail::heavy_fence_count() - fences_before;
  const auto retired = static_cast<std::uint64_t>(threads_count) * (per_thread - 1);
  EXPECT_LE(fences, 2 * retired / reclaim_batch + static_cast<std::uint64_t>(threads_count))
      << "reclamation fenced " << fences << " times for " << retired << " retirements";
  for (int t = 0; t < threads_count; ++t) {
    optimist::atomically([&] {
      if (counted* last = slots[t].get()) optimist::tx_delete(last);
      slots[t].set(nullptr);
    });
  }
  optimist::detail::reclaim_now();
  EXPECT_EQ(g_live.load(), 0) << "every deleted object must be destroyed once nothing runs";
}

// Large objects make a batch sooner: a thread that deletes 256 KiB objects
// beside another registered thread (idle: it pins nothing) keeps a few of
// them waiting, not a count-sized batch (64 MiB).
TEST_P(ReclamationFencesTest, LargeObjectsWaitInBatchesOfBytes) {
  optimist::test::watchdog guard("deleting large objects");
  struct large : counted {
    char payload[256 << 10];
  };
  const int others = GetParam();
  std::atomic<int> registered{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < others; ++t) {
    threads.emplace_back([&] {
      optimist::atomically([] {});  // a descriptor, kept until the thread ends
      registered.fetch_add(1);
      while (!done.load()) std::this_thread::yield();
    });
  }
  while (registered.load() < others) std::this_thread::yield();
  const long bound = static_cast<long>(reclaim_bytes / sizeof(large)) + 1;
  long most_waiting = 0;
  for (int i = 0; i < 64; ++i) {
    optimist::atomically([&] { optimist::tx_delete(new large); });
    most_waiting = std::max(most_waiting, g_live.load());
  }
  done.store(true);
  for (std::thread& t : threads) t.join();
  EXPECT_LE(most_waiting, bound) << "deleted 256 KiB objects waited in a batch of " << most_waiting;
  optimist::detail::reclaim_now();
  EXPECT_EQ(g_live.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, ReclamationFencesTest, ::testing::Values(1, 2, 4));

// INVARIANT alone-needs-no-membarrier (epoch_reclaimer.cpp): a thread that
// holds the only descriptor reclaims without interrupting every CPU; once
// another thread holds one (here idle, outside any transaction), each scan
// fences it again. Objects are destroyed either way.
TEST(ReclamationAloneTest, OnlyThreadWithADescriptorScansWithoutTheHeavyFence) {
  optimist::test::watchdog guard("deleting alone, then beside an idle thread");
  (void)optimist::detail::this_thread_transaction();
  ASSERT_EQ(optimist::test::threads_with_descriptors(), 1)
      << "precondition: this test's thread is the only one holding a descriptor";
  const long deletions = 8 * static_cast<long>(reclaim_batch);
  const auto delete_some = [&] {
    const std::uint64_t fences_before = optimist::detail::heavy_fence_count();
    for (long i = 0; i < deletions; ++i) optimist::tx_delete(new counted);
    optimist::detail::reclaim_now();
    EXPECT_EQ(g_live.load(), 0) << "nothing pins them: every deleted object is destroyed";
    return optimist::detail::heavy_fence_count() - fences_before;
  };
  EXPECT_EQ(delete_some(), 0u) << "a heavy fence while no other thread holds a descriptor";

  std::atomic<bool> registered{false}, done{false};
  std::thread idle([&] {
    optimist::atomically([] {});  // takes a descriptor, kept until the thread ends
    registered.store(true);
    while (!done.load()) std::this_thread::yield();
  });
  while (!registered.load()) std::this_thread::yield();
  EXPECT_EQ(optimist::test::threads_with_descriptors(), 2);
  EXPECT_GE(delete_some(), static_cast<std::uint64_t>(deletions) / (2 * reclaim_batch))
      << "scans beside another registered thread must fence it";
  done.store(true);
  idle.join();
}

}  // namespace

}  // namespace reclamation_fences_test
