// samples/interest_rate.cpp — the loop optimist was made for.
//
//   accounts:  [100.0] [250.0] [ 80.0] ... a million of them
//                 |       |       |
//   one task each: balance = balance * 1.05      (no two tasks touch the same word)
//                 v       v       v
//              [105.0] [262.5] [ 84.0] ...
//
// Every task runs in a transaction; since no two tasks conflict, all of them
// commit at the first attempt. Tasks this small cost more to run
// speculatively than one at a time, so in the default mode (auto) the
// runtime commits them in groups on one worker rather than spreading them
// over the cores (README, Performance: the task rows). The result is checked
// against the same loop run sequentially.
//
// Run: interest_rate [--accounts N] [--threads T]
#include <optimist/optimist.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

#include "sample_options.hpp"

namespace {

struct account {
  double balance;
  long id;
};

std::vector<account> open_accounts(std::size_t count) {
  std::vector<account> accounts(count);
  for (std::size_t i = 0; i < count; ++i)
    accounts[i] = {100.0 + static_cast<double>(i % 997), static_cast<long>(i)};
  return accounts;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t count = sample::option(argc, argv, "--accounts", 1'000'000);
  optimist::run_options options;
  options.threads = static_cast<unsigned>(sample::option(argc, argv, "--threads", 0));

  std::vector<account> expected = open_accounts(count);
  for (account& a : expected) a.balance = a.balance * 1.05;

  std::vector<account> accounts = open_accounts(count);
  optimist::reset_stats();
  auto start = std::chrono::steady_clock::now();
  for (account& a : accounts) {
    optimist::add_task([&a] { optimist::store(a.balance, optimist::load(a.balance) * 1.05); });
  }
  optimist::run_all_tasks(options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::size_t wrong = 0;
  for (std::size_t i = 0; i < count; ++i) wrong += accounts[i].balance != expected[i].balance;
  optimist::statistics s = optimist::stats();
  std::printf("interest_rate: %zu accounts, %u threads, %.3f s (adding and running)\n", count,
              optimist::resolve_thread_count(options), seconds);
  // A run commits consecutive tiny tasks as one transaction (optimist/tasks.hpp).
  std::printf(
      "  commits %llu (and %llu accounts committed with the account before them), "
      "aborts %llu\n",
      static_cast<unsigned long long>(s.commits), static_cast<unsigned long long>(s.grouped_tasks),
      static_cast<unsigned long long>(s.aborts));
  std::printf("  result %s the sequential loop (%zu accounts differ)\n",
              wrong == 0 ? "equals" : "DIFFERS FROM", wrong);
  return wrong == 0 ? 0 : 1;
}
