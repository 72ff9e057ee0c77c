// samples/bank.cpp — swap a global mutex for optimist::atomically.
//
//   thread 1: transfer(a, b)      thread 2: transfer(c, d)      auditor: sum(all)
//        \                              |                          /
//         +----- one global std::mutex, or one atomic block each -+
//
// Code that has its own threads keeps them: the same transfer function runs
// once under a global std::mutex and once as an atomic block. Transfers of
// disjoint accounts then run in parallel; the auditor's sum (a read-only
// transaction over every account) is always exact; money is conserved.
//
// Run: bank [--accounts N] [--threads T] [--transfers N]
#include <optimist/optimist.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "sample_options.hpp"

namespace {

constexpr long initial_balance = 1000;

struct xorshift {
  unsigned long long state;
  unsigned next(unsigned bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<unsigned>(state % bound);
  }
};

// Runs `threads` workers doing `transfers` transfers each, plus an auditor
// every 64 transfers on worker 0. Returns seconds; counts bad audits.
template <class Transfer, class Audit>
double run(unsigned threads, unsigned long transfers, std::size_t accounts, Transfer transfer,
           Audit audit, long& bad_audits) {
  std::vector<std::thread> workers;
  std::vector<long> bad(threads, 0);
  auto t0 = std::chrono::steady_clock::now();
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      xorshift random{0x9E3779B97F4A7C15ull * (t + 1)};
      for (unsigned long i = 0; i < transfers; ++i) {
        unsigned from = random.next(static_cast<unsigned>(accounts));
        unsigned to = random.next(static_cast<unsigned>(accounts));
        transfer(from, to, 1 + static_cast<long>(random.next(10)));
        if (t == 0 && i % 64 == 0 && audit() != initial_balance * static_cast<long>(accounts)) {
          ++bad[t];
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  for (long b : bad) bad_audits += b;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t accounts = sample::option(argc, argv, "--accounts", 1024);
  const unsigned threads = static_cast<unsigned>(
      sample::option(argc, argv, "--threads", optimist::resolve_thread_count({})));
  const unsigned long transfers = sample::option(argc, argv, "--transfers", 200'000);

  // Under one global mutex.
  std::vector<long> locked(accounts, initial_balance);
  std::mutex bank_mutex;
  long bad_locked = 0;
  double locked_s = run(
      threads, transfers, accounts,
      [&](unsigned from, unsigned to, long amount) {
        std::lock_guard<std::mutex> lock(bank_mutex);
        locked[from] -= amount;
        locked[to] += amount;
      },
      [&] {
        std::lock_guard<std::mutex> lock(bank_mutex);
        long sum = 0;
        for (long b : locked) sum += b;
        return sum;
      },
      bad_locked);

  // The same with atomic blocks.
  std::vector<optimist::tvar<long>> balances(accounts);
  for (auto& b : balances) b = initial_balance;
  long bad_tx = 0;
  optimist::reset_stats();
  double tx_s = run(
      threads, transfers, accounts,
      [&](unsigned from, unsigned to, long amount) {
        optimist::atomically([&] {
          balances[from].set(balances[from].get() - amount);
          balances[to].set(balances[to].get() + amount);
        });
      },
      [&] {
        return optimist::atomically([&] {
          long sum = 0;
          for (auto& b : balances) sum += b.get();
          return sum;
        });
      },
      bad_tx);
  optimist::statistics s = optimist::stats();

  long total_locked = 0, total_tx = 0;
  for (long b : locked) total_locked += b;
  for (auto& b : balances) total_tx += b.get();
  const long expected = initial_balance * static_cast<long>(accounts);
  double ops = static_cast<double>(transfers) * threads;
  std::printf("bank: %zu accounts, %u threads, %lu transfers each\n", accounts, threads, transfers);
  std::printf("  global mutex : %.3f s, %.2f M transfers/s, total %ld, bad audits %ld\n", locked_s,
              ops / locked_s / 1e6, total_locked, bad_locked);
  std::printf("  atomically   : %.3f s, %.2f M transfers/s, total %ld, bad audits %ld\n", tx_s,
              ops / tx_s / 1e6, total_tx, bad_tx);
  std::printf(
      "  commits %llu, aborts %llu (%.2f%%)\n", static_cast<unsigned long long>(s.commits),
      static_cast<unsigned long long>(s.aborts),
      s.commits ? 100.0 * static_cast<double>(s.aborts) / static_cast<double>(s.commits) : 0.0);
  bool ok = total_locked == expected && total_tx == expected && bad_locked == 0 && bad_tx == 0;
  std::printf("  money %s\n", ok ? "conserved" : "NOT CONSERVED");
  return ok ? 0 : 1;
}
