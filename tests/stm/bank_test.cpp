// Bank transfers: the classic STM invariant test.
//
// Money moves between accounts held two ways — optimist::tvar<long> and plain
// `long` fields reached through optimist::load / optimist::store — sometimes
// within one kind, sometimes across kinds in one transaction. Auditor
// transactions sum every balance: under opacity the sum is the same constant
// in *every* attempt, even one that is later rolled back, so each auditor
// checks it from inside the transaction and counts violations in an atomic.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/describe_stats.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace bank_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

constexpr long initial_balance = 1000;

// A plain record whose balance is shared; `id` is never written and shares
// nothing with the balance word.
struct ledger_entry {
  long balance;
  long id;
};

struct bank {
  explicit bank(std::size_t accounts) : tvar_accounts(accounts), ledger(accounts) {
    for (auto& a : tvar_accounts) a = std::make_unique<optimist::tvar<long>>(initial_balance);
    for (std::size_t i = 0; i < accounts; ++i) ledger[i] = {initial_balance, static_cast<long>(i)};
  }

  std::size_t accounts() const { return ledger.size(); }
  long expected_total() const { return 2 * static_cast<long>(accounts()) * initial_balance; }

  // Account i < accounts() is a tvar, i >= accounts() a ledger balance.
  long balance(std::size_t i) const {
    if (i < accounts()) return tvar_accounts[i]->get();
    return optimist::load(ledger[i - accounts()].balance);
  }
  void set_balance(std::size_t i, long value) {
    if (i < accounts()) {
      tvar_accounts[i]->set(value);
    } else {
      optimist::store(ledger[i - accounts()].balance, value);
    }
  }
  // Pauses half way, so that transfers commit while an audit is running.
  long sum() const {
    long total = 0;
    for (std::size_t i = 0; i < 2 * accounts(); ++i) {
      if (i == accounts()) optimist::test::think(40);
      total += balance(i);
    }
    return total;
  }

  std::vector<std::unique_ptr<optimist::tvar<long>>> tvar_accounts;
  std::vector<ledger_entry> ledger;
};

class BankTest : public ::testing::TestWithParam<int> {};

TEST_P(BankTest, TransfersConserveMoneyAndAuditorsSeeConstantSum) {
  const int threads = GetParam();
  const long operations_per_thread = scaled(20000);
  bank b(32);
  std::atomic<long> bad_audits{0};
  std::atomic<long> audits{0};
  std::atomic<long> transfers{0};

  optimist::reset_stats();
  {
    optimist::test::watchdog guard("running bank transfers and audits");
    run_threads(threads, [&](int index) {
      std::mt19937_64 random(static_cast<std::uint64_t>(index) * 7919 + 1);
      std::uniform_int_distribution<std::size_t> pick(0, 2 * b.accounts() - 1);
      std::uniform_int_distribution<long> amount_of(1, 50);
      long my_audits = 0;
      long my_transfers = 0;
      for (long op = 0; op < operations_per_thread; ++op) {
        if (op % 8 == 0) {
          optimist::atomically([&] {
            // Checked in every attempt, before the commit can say anything.
            if (b.sum() != b.expected_total()) bad_audits.fetch_add(1);
          });
          ++my_audits;
        } else {
          const std::size_t from = pick(random);
          std::size_t to = pick(random);
          if (to == from) to = (to + 1) % (2 * b.accounts());
          const long amount = amount_of(random);
          optimist::atomically([&] {
            const long from_balance = b.balance(from);
            optimist::test::think(10);
            b.set_balance(from, from_balance - amount);
            b.set_balance(to, b.balance(to) + amount);
          });
          ++my_transfers;
        }
      }
      audits.fetch_add(my_audits);
      transfers.fetch_add(my_transfers);
    });
  }
  const optimist::statistics s = optimist::stats();
  std::printf("%s\n", optimist::test::describe(s).c_str());

  EXPECT_EQ(bad_audits.load(), 0) << "an auditor saw money created or destroyed";
  EXPECT_EQ(b.sum(), b.expected_total());
  for (std::size_t i = 0; i < b.accounts(); ++i) {
    EXPECT_EQ(b.ledger[i].id, static_cast<long>(i)) << "a transfer clobbered the field next to a "
                                                       "balance";
  }

  const long transactions = audits.load() + transfers.load();
  ASSERT_EQ(transactions, threads * operations_per_thread);
  EXPECT_GE(s.commits, static_cast<std::uint64_t>(transactions));
  // Exactly: every atomically() above commits once and nothing else ran.
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(transactions));
  EXPECT_EQ(s.read_only_commits, static_cast<std::uint64_t>(audits.load()));
  EXPECT_EQ(s.aborts, s.restarts) << "no attempt ended by exception, so each abort re-ran";
  std::uint64_t by_cause = 0;
  for (std::uint64_t n : s.aborts_by_cause) by_cause += n;
  EXPECT_EQ(by_cause, s.aborts);
  EXPECT_EQ(s.aborts_for(optimist::abort_cause::user_exception), 0u);
  EXPECT_LE(s.starved, s.irrevocable);
}

// Every thread deposits into the same two accounts (one tvar, one plain
// field): no deposit may be lost, and a transaction that reads what it has just
// written gets it from its own redo log.
TEST_P(BankTest, ConcurrentDepositsAllLand) {
  const int threads = GetParam();
  const long deposits_per_thread = scaled(20000);
  optimist::tvar<long> vault{0};
  ledger_entry plain{0, 42};
  std::atomic<long> torn{0};

  optimist::reset_stats();
  {
    optimist::test::watchdog guard("depositing into one account from every thread");
    run_threads(threads, [&](int) {
      for (long i = 0; i < deposits_per_thread; ++i) {
        optimist::atomically([&] {
          const long v = vault.get();
          optimist::test::think(10);
          vault.set(v + 1);
          optimist::store(plain.balance, optimist::load(plain.balance) + 1);
          // Read-after-write: both answered from this transaction's own log.
          if (vault.get() != optimist::load(plain.balance)) torn.fetch_add(1);
        });
      }
    });
  }
  std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(vault.get(), threads * deposits_per_thread);
  EXPECT_EQ(optimist::load(plain.balance), threads * deposits_per_thread);
  EXPECT_EQ(plain.id, 42);
  EXPECT_EQ(optimist::stats().commits, static_cast<std::uint64_t>(threads * deposits_per_thread));
}

INSTANTIATE_TEST_SUITE_P(Threads, BankTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace bank_test
