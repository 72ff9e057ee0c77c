// Transactional allocation and epoch-based reclamation.
//
// - tx_new in an attempt that does not commit (user exception, or a real
//   conflict) is destroyed; in one that commits it is kept.
// - tx_delete never destroys an object while a transaction that may still hold
//   a pointer to it is running: a reader that read the pointer before the
//   deleting commit can still read the object after reclaim_now() ran
//   (ASan reports a use after free otherwise; the destructor also poisons the
//   object and raises a flag, for builds without ASan).
// - Once no transaction runs, reclaim_now() destroys everything retired.
// - Deleting one object twice in one transaction is a std::logic_error.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/optimist.hpp"
#include "support/describe_stats.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace memory_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

constexpr int max_threads = 8;
constexpr std::uint64_t alive_magic = 0xA11CE5EEDULL;
constexpr std::uint64_t dead_magic = 0xDEADDEADULL;

std::atomic<long> g_live_total{0};
std::atomic<long> g_live[max_threads];

// Counts live instances (in total and per creating thread) and poisons itself
// when destroyed.
struct counted {
  explicit counted(int owner_thread = 0, long v = 0) : owner(owner_thread), value(v) {
    g_live_total.fetch_add(1);
    g_live[owner].fetch_add(1);
  }
  ~counted() {
    magic = dead_magic;
    g_live[owner].fetch_sub(1);
    g_live_total.fetch_sub(1);
  }
  counted(const counted&) = delete;
  counted& operator=(const counted&) = delete;

  std::uint64_t magic = alive_magic;
  int owner;
  long value;
};

// Runs reclaim_now() a number of times, yielding in between: other threads'
// short transactions may hold reclamation back for a moment.
void reclaim_repeatedly(int times) {
  for (int i = 0; i < times; ++i) {
    optimist::detail::reclaim_now();
    std::this_thread::yield();
  }
}

class MemoryTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    g_live_total.store(0);
    for (auto& n : g_live) n.store(0);
  }
  void TearDown() override {
    optimist::detail::reclaim_now();  // test threads have ended: their leftovers are orphans
    EXPECT_EQ(g_live_total.load(), 0) << "objects were never destroyed (leak)";
  }
};

TEST_P(MemoryTest, AllocationsOfThrowingAttemptsAreDestroyed) {
  const long rounds = scaled(2000);
  run_threads(GetParam(), [&](int index) {
    optimist::tvar<counted*> slot{nullptr};
    long wrong = 0;
    for (long round = 0; round < rounds; ++round) {
      try {
        optimist::atomically([&] {
          slot.set(optimist::tx_new<counted>(index, round));
          optimist::tx_new<counted>(index, -round);  // not even published
          throw std::runtime_error("abandon");
        });
      } catch (const std::runtime_error&) {
      }
      if (g_live[index].load() != 0) ++wrong;
    }
    EXPECT_EQ(wrong, 0) << "objects of a rolled-back attempt outlived it";
    EXPECT_EQ(slot.get(), nullptr);

    // The same allocation in a committing transaction is kept.
    optimist::atomically([&] { slot.set(optimist::tx_new<counted>(index, 1)); });
    EXPECT_EQ(g_live[index].load(), 1);
    ASSERT_NE(slot.get(), nullptr);
    EXPECT_EQ(slot.get()->value, 1);
    delete slot.get();
  });
}

// Each of GetParam() victims reads x[i], then (in its first attempt only)
// lets the spoiler commit a write to every x, then writes y[i]: its commit
// must fail validation. The object it allocated in that attempt must be gone
// when the second attempt runs, and the second attempt's object kept.
TEST_P(MemoryTest, AllocationsOfConflictingAttemptsAreDestroyed) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("conflicts staged between threads inside blocks");
  const int victims = GetParam();
  std::vector<std::unique_ptr<optimist::tvar<long>>> x, y;
  std::vector<std::unique_ptr<optimist::tvar<counted*>>> out;
  for (int i = 0; i < victims; ++i) {
    x.push_back(std::make_unique<optimist::tvar<long>>(0));
    y.push_back(std::make_unique<optimist::tvar<long>>(0));
    out.push_back(std::make_unique<optimist::tvar<counted*>>(nullptr));
  }
  std::latch victims_have_read(victims);
  std::latch spoiler_committed(1);
  std::vector<int> attempts(static_cast<std::size_t>(victims), 0);
  std::vector<long> live_at_second_attempt(static_cast<std::size_t>(victims), -1);

  optimist::reset_stats();
  optimist::test::watchdog guard("forcing one validation failure per victim");
  std::thread spoiler([&] {
    victims_have_read.wait();
    optimist::atomically([&] {
      for (auto& v : x) v->set(v->get() + 1);
    });
    spoiler_committed.count_down();
  });
  run_threads(victims, [&](int index) {
    const auto i = static_cast<std::size_t>(index);
    optimist::atomically([&] {
      const int attempt = ++attempts[i];
      if (attempt == 2) live_at_second_attempt[i] = g_live[index].load();
      out[i]->set(optimist::tx_new<counted>(index, attempt));
      long seen = x[i]->get();
      if (attempt == 1) {
        victims_have_read.count_down();
        spoiler_committed.wait();
      }
      y[i]->set(seen + 1);
    });
  });
  spoiler.join();

  const optimist::statistics s = optimist::stats();
  for (int index = 0; index < victims; ++index) {
    const auto i = static_cast<std::size_t>(index);
    EXPECT_EQ(attempts[i], 2) << "victim " << index;
    EXPECT_EQ(live_at_second_attempt[i], 0)
        << "victim " << index << ": the aborted attempt's object was not destroyed";
    EXPECT_EQ(g_live[index].load(), 1) << "victim " << index;
    ASSERT_NE(out[i]->get(), nullptr);
    EXPECT_EQ(out[i]->get()->value, 2) << "the committed object is the second attempt's";
    EXPECT_EQ(y[i]->get(), 2) << "the second attempt read the spoiler's x";
    delete out[i]->get();
  }
  EXPECT_EQ(s.aborts_for(optimist::abort_cause::commit_invalidated),
            static_cast<std::uint64_t>(victims));
}

// Random contention on one slot: every transaction replaces the object in the
// slot by a new one and deletes the old one. Aborted attempts' objects must be
// destroyed and deleted ones reclaimed, so that at the end exactly the last
// object is alive.
TEST_P(MemoryTest, ReplacingObjectsUnderContentionLeavesOnlyTheLastOne) {
  const long rounds = scaled(5000);
  optimist::tvar<counted*> slot{new counted(0, -1)};
  optimist::tvar<long> replacements{0};
  std::atomic<long> dead_seen{0};
  optimist::reset_stats();
  {
    optimist::test::watchdog guard("replacing one object from every thread");
    run_threads(GetParam(), [&](int index) {
      for (long round = 0; round < rounds; ++round) {
        optimist::atomically([&] {
          counted* old = slot.get();
          optimist::test::think(10);
          if (old->magic != alive_magic) dead_seen.fetch_add(1);
          slot.set(optimist::tx_new<counted>(index, round));
          replacements.set(replacements.get() + 1);
          optimist::tx_delete(old);
        });
        if (round % 64 == 0) optimist::detail::reclaim_now();
      }
    });
  }
  std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());
  EXPECT_EQ(dead_seen.load(), 0) << "a transaction read an object that had been destroyed";
  EXPECT_EQ(replacements.get(), GetParam() * rounds);
  optimist::detail::reclaim_now();
  EXPECT_EQ(g_live_total.load(), 1);
  optimist::atomically([&] { optimist::tx_delete(slot.get()); });
}

// The reclamation guarantee, step by step: readers read the node pointer in a
// transaction and stop; the deleter unlinks and tx_deletes it, commits, and
// runs reclaim_now(); the readers, still in the same transaction, then read
// the node. Its destructor must not have run, and the memory must still be
// allocated (ASan). After the readers commit, reclaim_now() destroys it.
TEST_P(MemoryTest, DeletedNodeIsNotReclaimedWhileAReaderMayHoldIt) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("readers wait inside their blocks for a deleter on another thread");
  const int readers = GetParam();
  optimist::tvar<counted*> head{new counted(0, 12345)};
  std::latch readers_have_pointer(readers);
  std::latch deleter_done(1);
  std::atomic<int> reader_attempts{0};
  std::atomic<int> destroyed_while_reading{0};
  std::atomic<long> bad_values{0};
  bool destroyed_before_readers_finished = true;

  optimist::test::watchdog guard("readers holding a node that another thread deletes");
  std::thread deleter([&] {
    readers_have_pointer.wait();
    optimist::atomically([&] {
      counted* node = head.get();
      head.set(nullptr);
      optimist::tx_delete(node);
    });
    optimist::detail::reclaim_now();  // must keep the node: readers are still inside
    destroyed_before_readers_finished = g_live_total.load() != 1;
    deleter_done.count_down();
  });
  run_threads(readers, [&](int) {
    optimist::atomically([&] {
      reader_attempts.fetch_add(1);
      counted* node = head.get();
      if (node == nullptr) return;  // only in an unexpected second attempt
      readers_have_pointer.count_down();
      deleter_done.wait();
      // The deleter has committed and reclaimed. Plain reads of the node:
      // a use after free here is what ASan would report.
      if (g_live_total.load() != 1) destroyed_while_reading.fetch_add(1);
      if (node->magic != alive_magic || node->value != 12345) bad_values.fetch_add(1);
    });
  });
  deleter.join();

  EXPECT_EQ(reader_attempts.load(), readers) << "a read-only reader was restarted";
  EXPECT_FALSE(destroyed_before_readers_finished)
      << "reclaim_now() destroyed a node that running transactions had read";
  EXPECT_EQ(destroyed_while_reading.load(), 0);
  EXPECT_EQ(bad_values.load(), 0);
  EXPECT_EQ(head.get(), nullptr);
  EXPECT_EQ(g_live_total.load(), 1) << "nothing may reclaim it until someone calls reclaim";
  optimist::detail::reclaim_now();  // every transaction has ended
  EXPECT_EQ(g_live_total.load(), 0) << "the node was not reclaimed after its readers finished";
}

// Stress version: readers chase pointers out of slots that writers keep
// replacing (and deleting the old objects, and reclaiming). A reader must
// never find a destroyed object (poisoned magic; under ASan: use after free).
TEST_P(MemoryTest, ReadersNeverSeeReclaimedObjectsUnderChurn) {
  const int threads = GetParam();
  const long rounds = scaled(5000);
  constexpr std::size_t slots = 8;
  std::vector<std::unique_ptr<optimist::tvar<counted*>>> table;
  for (std::size_t i = 0; i < slots; ++i) {
    table.push_back(std::make_unique<optimist::tvar<counted*>>(new counted(0, 0)));
  }
  std::atomic<long> dead_seen{0};
  {
    optimist::test::watchdog guard("reading objects that others replace and reclaim");
    run_threads(threads, [&](int index) {
      for (long round = 0; round < rounds; ++round) {
        const std::size_t s = static_cast<std::size_t>(round * 5 + index) % slots;
        if ((round + index) % 3 == 0) {
          optimist::atomically([&] {
            counted* old = table[s]->get();
            table[s]->set(optimist::tx_new<counted>(index, old->value + 1));
            optimist::tx_delete(old);
          });
          if (round % 16 == 0) optimist::detail::reclaim_now();
        } else {
          optimist::atomically([&] {
            for (std::size_t k = 0; k < slots; ++k) {
              const counted* c = table[(s + k) % slots]->get();
              optimist::test::think(2);
              if (c->magic != alive_magic || c->value < 0) dead_seen.fetch_add(1);
            }
          });
        }
      }
    });
  }
  EXPECT_EQ(dead_seen.load(), 0);
  optimist::detail::reclaim_now();
  EXPECT_EQ(g_live_total.load(), static_cast<long>(slots));
  optimist::atomically([&] {
    for (auto& t : table) optimist::tx_delete(t->get());
  });
}

TEST_P(MemoryTest, ReclaimNowDestroysEverythingOnceTransactionsEnd) {
  const int threads = GetParam();
  const long objects = scaled(300);
  std::latch all_out_of_transactions(threads);
  std::atomic<long> left_after_own_reclaim{0};
  run_threads(threads, [&](int index) {
    for (long i = 0; i < objects; ++i) {
      if (i % 2 == 0) {
        auto* c = optimist::atomically([&] { return optimist::tx_new<counted>(index, i); });
        optimist::atomically([&] { optimist::tx_delete(c); });
      } else {
        optimist::tx_delete(new counted(index, i));  // outside a transaction: retired at once
      }
    }
    optimist::tx_delete(static_cast<counted*>(nullptr));  // ignored
    all_out_of_transactions.arrive_and_wait();
    optimist::detail::reclaim_now();
    left_after_own_reclaim.fetch_add(g_live[index].load());
  });
  EXPECT_EQ(left_after_own_reclaim.load(), 0)
      << "reclaim_now() kept objects although no transaction was running";
  EXPECT_EQ(g_live_total.load(), 0);
}

// Reclamation happens without reclaim_now(): a thread that deletes many
// objects in a row does not let them pile up. (While another thread sits in a
// transaction that started earlier — preempted, on a busy machine — objects
// may pile up for a while, so the bound is checked once every thread is out
// of its transactions and has deleted one more object.)
TEST_P(MemoryTest, RetiredObjectsDoNotPileUp) {
  const int threads = GetParam();
  const long objects = scaled(20000);
  std::latch loops_done(threads);
  std::atomic<long> worst{0};
  run_threads(threads, [&](int index) {
    optimist::tvar<counted*> slot{new counted(index, 0)};
    auto replace = [&](long value) {
      optimist::atomically([&] {
        counted* old = slot.get();
        slot.set(optimist::tx_new<counted>(index, value));
        optimist::tx_delete(old);
      });
    };
    for (long i = 0; i < objects; ++i) replace(i);
    loops_done.arrive_and_wait();
    replace(-1);
    long live = g_live[index].load();
    long seen = worst.load();
    while (live > seen && !worst.compare_exchange_weak(seen, live)) {
    }
    optimist::atomically([&] { optimist::tx_delete(slot.get()); });
  });
  EXPECT_LT(worst.load(), 1000) << "of " << objects << " deleted objects, many were still alive: "
                                << "they are only reclaimed on demand";
}

TEST_P(MemoryTest, DeletingTwiceInOneTransactionIsALogicError) {
  run_threads(GetParam(), [](int index) {
    auto* c = new counted(index, 7);
    optimist::tvar<counted*> slot{c};
    std::string message;
    try {
      optimist::atomically([&] {
        optimist::tx_delete(slot.get());
        slot.set(nullptr);
        optimist::tx_delete(c);
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::logic_error& e) {
      message = e.what();
    }
    EXPECT_NE(message.find("deleted twice"), std::string::npos) << message;
    // The transaction was rolled back: the slot still holds the object, and
    // nothing was retired.
    EXPECT_EQ(slot.get(), c);
    reclaim_repeatedly(100);  // would destroy c if it had been retired
    EXPECT_EQ(g_live[index].load(), 1);
    EXPECT_EQ(c->value, 7);
    delete c;
  });
}

INSTANTIATE_TEST_SUITE_P(Threads, MemoryTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace memory_test
