// bench/bank/bank.hpp — the bank: 1024 accounts, transfers and read-all audits.
//
// One operation is, with probability 20 %, an audit that sums every balance in one critical
// section, and otherwise a transfer of one unit between two random accounts (2 reads, 2 writes).
// Transfers conserve money, so every audit — and the total after a run — must see exactly
// account_count * initial_balance: a model that lets an audit see half a transfer fails the
// benchmark instead of looking fast.
//
//   bank::accounts<bench::mutex_access> b;
//   b.reset();
//   bench::xorshift_rng rng(0);
//   bool consistent = b.operate(rng);   // false: an audit saw money created or lost
//   b.operate(rng, 0);                  // a transfer: the mix without audits
//
// The audits make this a read-mostly workload for the STMs: an audit is 1024 transactional reads,
// 256 times a transfer's 4 accesses, so at 20 % they are nearly all of the work.
#pragma once

#include <cstddef>

#include "../common/xorshift.hpp"

namespace bank {

inline constexpr unsigned account_count = 1024;
inline constexpr long initial_balance = 1000;
inline constexpr long expected_total = static_cast<long>(account_count) * initial_balance;
inline constexpr unsigned audit_percent = 20;  // the mix; 0 gives transfers only

template <class Access>
struct accounts {
  alignas(64) long balance[account_count];

  // Outside any run: every account back to initial_balance.
  void reset() {
    for (long& b : balance) b = initial_balance;
  }

  void transfer(std::size_t from, std::size_t to, long amount) {
    Access::atomic([&] {
      Access::store(balance[from], Access::load(balance[from]) - amount);
      Access::store(balance[to], Access::load(balance[to]) + amount);
    });
  }

  long audit() {
    return Access::atomic([&] {
      long total = 0;
      for (const long& b : balance) total += Access::load(b);
      return total;
    });
  }

  // One operation of the mix; false if it was an audit that did not see expected_total.
  bool operate(bench::xorshift_rng& rng, unsigned audits = audit_percent) {
    if (audits != 0 && rng.percent(audits)) return audit() == expected_total;
    const std::size_t from = rng.below(account_count);
    std::size_t to = rng.below(account_count - 1);
    if (to >= from) ++to;  // two distinct accounts
    transfer(from, to, 1);
    return true;
  }

  // After a run, with no operation in flight.
  long total_unsynchronised() const {
    long total = 0;
    for (long b : balance) total += b;
    return total;
  }
};

}  // namespace bank
