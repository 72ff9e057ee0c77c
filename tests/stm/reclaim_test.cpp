// Deferred deletion: an object deleted by a committed transaction is destroyed
// only when no running transaction can still hold it (INVARIANT reclaim-safe,
// runtime/stm/transaction.hpp), whichever way it was deleted (issue 11,
// item 3: every commit path takes its stamp from one function,
// runtime/stm/global_clock.hpp).
//
// Each case: a reader transaction starts, reads the pointer and waits; the
// object is unlinked by a store outside a transaction (a shared, lazy stamp:
// the clock does not move) and then deleted — by an inevitable transaction
// that writes nothing (the case that used to retire it at the current clock,
// which the reader's start time equals), an inevitable one that also writes,
// optimistic ones with and without writes, and outside any transaction — and
// this thread reclaims everything it may. The object must survive until the
// reader has ended, and be destroyed by a reclaim after that.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/optimist.hpp"
#include "support/serial_mode.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace reclaim_test {

namespace {

using optimist::test::watchdog;

enum class deleted_by {
  inevitable_transaction,
  inevitable_writing_transaction,
  transaction,
  writing_transaction,
  no_transaction,
};

std::string case_name(const ::testing::TestParamInfo<deleted_by>& info) {
  switch (info.param) {
    case deleted_by::inevitable_transaction:
      return "InevitableTransaction";
    case deleted_by::inevitable_writing_transaction:
      return "InevitableWritingTransaction";
    case deleted_by::transaction:
      return "Transaction";
    case deleted_by::writing_transaction:
      return "WritingTransaction";
    case deleted_by::no_transaction:
      return "OutsideATransaction";
  }
  return "Unknown";
}

struct node {
  optimist::tvar<long> value{42};
  std::atomic<bool>* destroyed = nullptr;
  ~node() {
    if (destroyed != nullptr) destroyed->store(true);
  }
};

class ReclaimTest : public ::testing::TestWithParam<deleted_by> {};

TEST_P(ReclaimTest, AnObjectOutlivesEveryTransactionThatCanHoldIt) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  watchdog guard("a reader holding an object deleted meanwhile");
  std::atomic<bool> destroyed{false};
  optimist::tvar<node*> head{nullptr};
  optimist::tvar<long> other{0};
  node* p = optimist::tx_new<node>();  // outside a transaction: a plain new
  p->destroyed = &destroyed;
  head = p;
  optimist::atomically([&] { (void)head.get(); });  // the clock reaches head's version

  std::atomic<int> phase{0};
  bool destroyed_while_held = false;
  long seen = 0;
  std::thread reader([&] {
    optimist::atomically([&] {
      node* q = head.get();
      long v = q != nullptr ? q->value.get() : -1;
      if (phase.load() == 0) {
        phase.store(1);
        // The transaction holds q here. Reading through it now would be a
        // use-after-free if q were destroyed; the destructor's flag says so instead.
        while (phase.load() != 2) std::this_thread::yield();
        destroyed_while_held = destroyed.load();
      }
      seen = v;
    });
  });

  while (phase.load() != 1) std::this_thread::yield();
  head = nullptr;  // unlink: a lazy stamp, the clock stays at the reader's start time
  switch (GetParam()) {
    case deleted_by::inevitable_transaction:
      optimist::atomically([&] {
        optimist::become_inevitable();
        optimist::tx_delete(p);
      });
      break;
    case deleted_by::inevitable_writing_transaction:
      optimist::atomically([&] {
        optimist::become_inevitable();
        other.set(1);
        optimist::tx_delete(p);
      });
      break;
    case deleted_by::transaction:
      optimist::atomically([&] { optimist::tx_delete(p); });
      break;
    case deleted_by::writing_transaction:
      optimist::atomically([&] {
        other.set(1);
        optimist::tx_delete(p);
      });
      break;
    case deleted_by::no_transaction:
      optimist::tx_delete(p);
      break;
  }
  optimist::detail::reclaim_now();  // the reader is still running: p must stay
  phase.store(2);
  reader.join();
  EXPECT_FALSE(destroyed_while_held)
      << "the object was destroyed while a transaction that had read the pointer still ran";
  EXPECT_EQ(seen, 42);
  optimist::detail::reclaim_now();  // no reader any more: now it goes
  EXPECT_TRUE(destroyed.load()) << "the object was never reclaimed";
}

INSTANTIATE_TEST_SUITE_P(Paths, ReclaimTest,
                         ::testing::Values(deleted_by::inevitable_transaction,
                                           deleted_by::inevitable_writing_transaction,
                                           deleted_by::transaction, deleted_by::writing_transaction,
                                           deleted_by::no_transaction),
                         case_name);

}  // namespace

}  // namespace reclaim_test
