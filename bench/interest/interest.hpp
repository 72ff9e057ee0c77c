// bench/interest/interest.hpp — the interest-rate loop: every account's balance *= 1.05.
//
// The loop a user wants on all cores: elements independent of each other, one small critical
// section each (a read and a write of one double). Nothing conflicts, so the models differ only
// by what one critical section costs and how well the loop spreads over the threads.
//
//   interest::ledger<bench::mutex_access> l(1'000'000);
//   bench::parallel_loop<bench::mutex_access> loop(2);
//   loop.run(l.size(), [&](std::size_t i) { l.credit(i); });
#pragma once

#include <cstddef>
#include <vector>

namespace interest {

inline constexpr double rate = 1.05;
inline constexpr double initial_balance = 100.0;
// 1.05^10000 is about 1e212: below the largest double, so this many sweeps stay finite.
inline constexpr std::size_t sweeps_before_reset = 10'000;

struct account {
  double balance;
};

template <class Access>
struct ledger {
  std::vector<account> accounts;

  explicit ledger(std::size_t n) : accounts(n, account{initial_balance}) {}

  std::size_t size() const { return accounts.size(); }

  // The body of the loop: one account's interest, to run as one critical section.
  void credit(std::size_t i) {
    Access::store(accounts[i].balance, Access::load(accounts[i].balance) * rate);
  }

  // After `sweeps` sweeps since the last reset, every balance went through exactly the same
  // multiplications, so it equals this scalar bit for bit.
  static double expected_balance(std::size_t sweeps) {
    double b = initial_balance;
    for (std::size_t s = 0; s < sweeps; ++s) b *= rate;
    return b;
  }

  // True if every account was credited exactly `sweeps` times (outside any run).
  bool credited_exactly(std::size_t sweeps) const {
    const double expected = expected_balance(sweeps);
    for (const account& a : accounts) {
      if (a.balance != expected) return false;
    }
    return true;
  }

  void reset() {
    for (account& a : accounts) a.balance = initial_balance;
  }
};

}  // namespace interest
