// tests/itm/cancel_outer_gnutm.cpp — __transaction_cancel [[outer]] from a nested transaction
// (runtime/itm/itm_abi.cpp, _ITM_abortTransaction). Built with -fgnu-tm -g and linked with
// optimist_itm; run in the mode ctest gives (OPTIMIST_MODE). GCC's nested transactions are
// flattened into the outermost one, which a cancel [[outer]] rolls back and ends. (Before, the
// program was stopped: "_ITM_abortTransaction with a reason other than userAbort".)
// 1. One thread: an outer block writes a long and a byte, a nested block writes more and
//    cancels the outer one: every write of both is undone, the code after the cancel does not
//    run, and the program goes on after the outer block.
// 2. Transfers at 1, 2 and 4 threads whose nested block cancels the outer one when the source
//    account would go below zero (after the outer block already took the amount): the total is
//    conserved and no account is negative.
// 3. Transactions that may be cancelled but are not, at 1, 2 and 4 threads, one with a nested
//    block that may cancel the outer one and one that may cancel itself: each counts once, and
//    none is left open. (Before, _ITM_beginTransaction's actions had the wrong values: after a
//    restart it answered 0x11, which g++'s code reads as a_abortTransaction, so a restarted
//    transaction was skipped as if cancelled and left open, and the thread's later transactions
//    were nested in it and lost when the thread ended: half the increments at 2 threads.)
// OPTIMIST_STRESS (a positive integer) multiplies the transfers and the increments.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

namespace {

long g_long = 10;
std::uint8_t g_bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
long g_after_cancel = 0;

__attribute__((noinline)) void cancel_from_a_nested_block(bool cancel) {
  __transaction_atomic [[outer]] {
    g_long = 20;
    g_bytes[3] = 40;
    __transaction_atomic {
      g_long += 1;
      g_bytes[4] = 50;
      if (cancel) __transaction_cancel [[outer]];
      g_after_cancel += 1;
    }
    g_after_cancel += 1;
  }
}

void one_thread() {
  cancel_from_a_nested_block(true);
  check(g_long == 10 && g_bytes[3] == 4 && g_bytes[4] == 5 && g_bytes[2] == 3 && g_bytes[5] == 6 &&
            g_after_cancel == 0,
        "1: after the cancel: long " + std::to_string(g_long) + ", bytes 3 and 4 " +
            std::to_string(g_bytes[3]) + " " + std::to_string(g_bytes[4]) +
            ", code after the cancel ran " + std::to_string(g_after_cancel) + " times");
  cancel_from_a_nested_block(false);
  check(g_long == 21 && g_bytes[3] == 40 && g_bytes[4] == 50 && g_after_cancel == 2,
        "1: without the cancel: long " + std::to_string(g_long) + ", code after ran " +
            std::to_string(g_after_cancel) + " times");
}

constexpr int account_count = 8;
long g_accounts[account_count];

__attribute__((noinline)) void transfer(int from, int to, long amount) {
  __transaction_atomic [[outer]] {
    g_accounts[from] -= amount;
    g_accounts[to] += amount;
    __transaction_atomic {
      if (g_accounts[from] < 0) __transaction_cancel [[outer]];
    }
  }
}

extern "C" int _ITM_inTransaction();

long g_count = 0;
long g_limit = 1L << 60;  // never reached: the cancels below never happen

__attribute__((noinline)) void count_with_a_nested_cancel() {
  __transaction_atomic [[outer]] {
    __transaction_atomic {
      g_count += 1;
      if (g_count > g_limit) __transaction_cancel [[outer]];
    }
  }
}

__attribute__((noinline)) void count_with_a_cancel() {
  __transaction_atomic {
    g_count += 1;
    if (g_count > g_limit) __transaction_cancel;
  }
}

void counts(int threads, void (*count)(), const char* what) {
  g_count = 0;
  const long per_thread = 20000 * stress_scale();
  std::atomic<long> left_open{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (long i = 0; i < per_thread; ++i) {
        count();
        if (_ITM_inTransaction() != 0) left_open.fetch_add(1);
      }
    });
  }
  for (auto& w : workers) w.join();
  check(g_count == per_thread * threads && left_open.load() == 0,
        std::string("3, ") + what + ", " + std::to_string(threads) + " threads: count " +
            std::to_string(g_count) + ", expected " + std::to_string(per_thread * threads) +
            "; a transaction was left open " + std::to_string(left_open.load()) + " times");
}

}  // namespace

int main() {
  one_thread();
  for (int threads : {1, 2, 4}) {
    check_transfers(g_accounts, account_count, threads, 4000 * stress_scale(),
                    "transfers cancelled from a nested block",
                    [](int from, int to, long amount, long) { transfer(from, to, amount * 200); });
    for (int a = 0; a < account_count; ++a)
      check(g_accounts[a] >= 0, "2: account " + std::to_string(a) + " is negative");
  }
  for (int threads : {1, 2, 4}) {
    counts(threads, count_with_a_nested_cancel, "nested block that may cancel the outer one");
    counts(threads, count_with_a_cancel, "block that may cancel itself");
  }
  std::printf("itm cancel [[outer]]: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
