// tests/itm/irrevocable_gnutm.cpp — -fgnu-tm transactions that run code GCC did not instrument
// (runtime/itm/itm_abi.cpp: _ITM_changeTransactionMode, start_serial_forced). Built with
// -fgnu-tm -g and linked with optimist_itm; run in the mode ctest gives (OPTIMIST_MODE).
//
// A __transaction_relaxed may call an unsafe function (I/O, or any function without a
// transactional clone). GCC then either asks for serial-irrevocable mode before the call
// (_ITM_changeTransactionMode) and calls the function's plain, uninstrumented code, or gives the
// whole block only an uninstrumented path. Either way that code loads and stores in place, so it
// must see the transaction's own earlier writes and its stores must not be overwritten at
// commit; and nothing else may run beside it.
// 1. Sequential result: a relaxed block whose unsafe call (taken in some iterations) adds to the
//    word the block has just written; the result must equal the same loop without transactions,
//    in every mode. (Before: a speculative attempt kept the block's writes in its redo log, so
//    the plain code read the old value and the write-back overwrote its store: 704, not 310.)
// 2. A block GCC gave only an uninstrumented path (it calls I/O unconditionally) runs, its I/O
//    once per block; _ITM_inTransaction says irrevocable inside it. (Before: the program was
//    stopped with "no instrumented code path".) Also nested in such a block.
// 3. Isolation at 2 and 4 threads: transfers where every 16th block is relaxed and moves its
//    amount through an unsafe function with plain stores, beside instrumented ones; the total is
//    conserved.
// 4. _ITM_getTMCloneOrIrrevocable for a function without a transactional clone returns the
//    function and leaves the transaction irrevocable (before: the program was stopped with "no
//    transactional clone"); the block's own write is made once.
// 5. _ITM_getTransactionId: _ITM_noTransactionId (1) outside a transaction; inside, an id other
//    than 1, different for each transaction, on every thread. (Before: 0 outside, and ids
//    counted per thread from 1.)
// OPTIMIST_STRESS (a positive integer) multiplies the transfers.
#include <unistd.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "check.hpp"

extern "C" int _ITM_inTransaction();
extern "C" unsigned long _ITM_getTransactionId();

namespace {

// ---- 1. the sequential result -------------------------------------------------------------

long g_value = 0;
int g_unsafe_calls = 0;

__attribute__((noinline)) void add_hundred_unsafely() {
  ++g_unsafe_calls;
  g_value = g_value + 100;
  asm volatile("" ::: "memory");  // (an opaque body: GCC must treat the call as unsafe)
}

// The loop of sequential_result without transactions: {value, calls}.
std::pair<long, int> expected_sequential() {
  long value = 0;
  int calls = 0;
  for (int i = 0; i < 10; ++i) {
    value += 1;
    if (value % 5 == 0) {
      ++calls;
      value += 100;
    }
    value += 10;
  }
  return {value, calls};
}

void sequential_result() {
  // (Computed outside this frame: locals live across a transaction's restart point may be
  // clobbered by its longjmp.)
  const std::pair<long, int> expected = expected_sequential();
  g_value = 0;
  g_unsafe_calls = 0;
  for (int i = 0; i < 10; ++i) {
    __transaction_relaxed {
      g_value = g_value + 1;
      if (g_value % 5 == 0) add_hundred_unsafely();
      g_value = g_value + 10;
    }
  }
  check(g_value == expected.first && g_unsafe_calls == expected.second,
        "relaxed blocks with an unsafe call: g " + std::to_string(g_value) + " after " +
            std::to_string(g_unsafe_calls) + " calls, expected " + std::to_string(expected.first) +
            " after " + std::to_string(expected.second) + " (the loop without transactions)");
}

// ---- 2. blocks with only an uninstrumented path --------------------------------------------

long g_io_value = 0;
int g_io_calls = 0, g_io_state = -1;

void unsafe_io(long v) {
  ++g_io_calls;
  g_io_state = _ITM_inTransaction();
  if (write(-1, &v, sizeof v) > 0) g_io_calls = -1000;  // (an I/O call: fails, EBADF)
}

__attribute__((noinline)) void nested_io(long v) {
  __transaction_relaxed {
    g_io_value = g_io_value + 100;
    unsafe_io(v);
  }
}

void uninstrumented_blocks() {
  for (int i = 0; i < 3; ++i) {
    __transaction_relaxed {
      g_io_value = g_io_value + 1;
      unsafe_io(g_io_value);
      g_io_value = g_io_value + 10;
    }
  }
  check(g_io_value == 33 && g_io_calls == 3,
        "uninstrumented blocks: value " + std::to_string(g_io_value) + " after " +
            std::to_string(g_io_calls) + " I/O calls, expected 33 after 3");
  check(g_io_state == 2, "_ITM_inTransaction in an uninstrumented block gave " +
                             std::to_string(g_io_state) + ", expected 2 (irrevocable)");
  __transaction_relaxed {
    g_io_value = g_io_value + 1;
    nested_io(g_io_value);
    g_io_value = g_io_value + 10;
  }
  check(g_io_value == 144 && g_io_calls == 4,
        "nested uninstrumented block: value " + std::to_string(g_io_value) + " after " +
            std::to_string(g_io_calls) + " I/O calls, expected 144 after 4");
}

// ---- 3. isolation beside other threads ------------------------------------------------------

constexpr int account_count = 16;
long g_accounts[account_count];

__attribute__((noinline)) void move_unsafely(long* from, long* to, long amount) {
  *from -= amount;  // plain stores, uninstrumented
  asm volatile("" ::: "memory");
  *to += amount;
}

// ---- 4. an indirect call's target without a clone ------------------------------------------

extern "C" __attribute__((transaction_pure)) void* _ITM_getTMCloneOrIrrevocable(void*);

__attribute__((transaction_pure)) int transaction_state() {
  return _ITM_inTransaction();
}

void clone_or_irrevocable() {
  g_value = 0;
  void* target = nullptr;
  int state = -1;
  __transaction_relaxed {
    g_value += 1;
    target = _ITM_getTMCloneOrIrrevocable(reinterpret_cast<void*>(&add_hundred_unsafely));
    state = transaction_state();
  }
  check(target == reinterpret_cast<void*>(&add_hundred_unsafely),
        "4: _ITM_getTMCloneOrIrrevocable did not return the function itself");
  check(state == 2,
        "4: the transaction was not irrevocable after it (state " + std::to_string(state) + ")");
  check(g_value == 1, "4: the block's write was made " + std::to_string(g_value) + " times");
}

void transfers(int threads) {
  check_transfers(g_accounts, account_count, threads, 4000 * stress_scale(),
                  "relaxed and atomic transfers", [](int from, int to, long amount, long i) {
                    if (i % 16 == 0) {
                      __transaction_relaxed {
                        if (g_accounts[from] >= amount)
                          move_unsafely(&g_accounts[from], &g_accounts[to], amount);
                      }
                    } else {
                      __transaction_atomic {
                        if (g_accounts[from] >= amount) {
                          g_accounts[from] -= amount;
                          g_accounts[to] += amount;
                        }
                      }
                    }
                  });
}

}  // namespace

// ---- 5. transaction ids ----------------------------------------------------------------------

__attribute__((transaction_pure)) unsigned long transaction_id() {
  return _ITM_getTransactionId();
}

unsigned long g_id_sink = 0;  // (a write, so that the block is a transaction g++ keeps)

unsigned long id_of_a_transaction() {
  unsigned long id = 0;
  __transaction_atomic {
    id = transaction_id();
    g_id_sink = id;
  }
  return id;
}

void transaction_ids() {
  check(_ITM_getTransactionId() == 1, "5: outside a transaction the id is " +
                                          std::to_string(_ITM_getTransactionId()) +
                                          ", not _ITM_noTransactionId (1)");
  unsigned long first = id_of_a_transaction(), second = id_of_a_transaction(), other = 0;
  std::thread([&] { other = id_of_a_transaction(); }).join();
  check(
      first > 1 && second > 1 && other > 1 && first != second && other != first && other != second,
      "5: ids " + std::to_string(first) + ", " + std::to_string(second) + " and another thread's " +
          std::to_string(other) + " (expected distinct, above 1)");
}

int main() {
  transaction_ids();
  sequential_result();
  uninstrumented_blocks();
  clone_or_irrevocable();
  for (int threads : {1, 2, 4}) transfers(threads);
  std::printf("itm irrevocable: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
