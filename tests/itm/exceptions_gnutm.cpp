// tests/itm/exceptions_gnutm.cpp — C++ exceptions thrown and caught inside -fgnu-tm transactions
// (_ITM_cxa_allocate_exception ... _ITM_cxa_end_catch, runtime/itm/itm_abi.cpp). Built with
// -fgnu-tm -g and linked with optimist_itm; everything runs in a child process with
// OPTIMIST_MODE=stm, so that every attempt is speculative (auto runs a lone thread's blocks
// serially, in place anyway).
//
// g++ writes a thrown object through the barriers. Those writes were buffered in the redo log,
// so the handler's plain loads of the object missed them, and the commit wrote them back after
// the catch had freed the object (into the heap, possibly another thread's block by then).
// 1. One thread: the handler reads the caught object's fields through barriers, and after the
//    handler a transaction_pure function reads them with plain loads; both give what was thrown.
// 2. Threads (2 and 4) throw and catch in transactions that also move money between shared
//    accounts (conflicting): every handler sees its own thread's object whole, and the total is
//    conserved.
// 3. An exception escapes a transaction whose commit fails once (another thread commits a
//    conflicting write during the first attempt): the transaction runs again, its write counts
//    once, the exception reaches the caller, and afterwards std::uncaught_exceptions() is 0.
//    (Before, the rollback at the commit left the exception it was propagating: leaked, and
//    std::uncaught_exceptions() said 1 for the rest of the thread.)
// 4. A transaction rolls back inside a handler (a read there meets the other thread's write):
//    afterwards std::current_exception() is null outside any handler. (Before, the handler's
//    exception stayed on the thread's caught-exceptions stack.)
// 5. A transaction catches an exception whose constructor allocated memory (freed by its
//    destructor), then is cancelled: the rollback frees what the attempt allocated, and the
//    exception's destructor must not run (it ran when the kept exception was released: a
//    double free in stm mode, a destructor on bytes the undo log restored in serial mode).
//    Committed, the destructor runs once.
// 6. __transaction_cancel [[outer]] from a destructor that an exception's unwinding runs:
//    afterwards std::uncaught_exceptions() is 0 (the exception was in flight: it leaked and
//    the count stayed 1 for the rest of the thread).
// 5 and 6 run in stm and in serial mode.
// OPTIMIST_STRESS (a positive integer) multiplies the transfers of 2.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include "check.hpp"

// Written by test 4; outside the anonymous namespace so that g++ keeps the store and its read.
long g_exceptions_last = 0;

namespace {

struct thrown {
  long code;
  long payload[5];
};

// The object's fields through plain loads (a buffered write is not in memory yet).
__attribute__((transaction_pure)) bool whole_in_memory(const thrown* t) {
  bool whole = __atomic_load_n(&t->code, __ATOMIC_RELAXED) == 42;
  for (int i = 0; i < 5; ++i)
    whole = whole && __atomic_load_n(&t->payload[i], __ATOMIC_RELAXED) == 1 + i;
  return whole;
}

// Throws {42, 1, 2, 3, 4, 5} when `really` and catches it: 1 if the handler saw it whole
// through barriers, plus 2 if it is also whole in memory (plain loads) after the handler, which
// is still in the transaction: the transaction keeps what it caught until it ends. (g++ 12 fails
// compiling a throw of an object that is not a constant, or one that always happens.)
__attribute__((transaction_safe, noinline)) int throw_and_catch(bool really) {
  const thrown* caught = nullptr;
  bool through_barriers = false;
  try {
    if (really) throw thrown{42, {1, 2, 3, 4, 5}};
  } catch (const thrown& t) {
    through_barriers = t.code == 42;
    for (int i = 0; i < 5; ++i) through_barriers = through_barriers && t.payload[i] == 1 + i;
    caught = &t;
  }
  const bool in_memory = caught != nullptr && whole_in_memory(caught);
  return (through_barriers ? 1 : 0) + (in_memory ? 2 : 0);
}

bool g_throw = true;  // (not a constant: see throw_and_catch)

__attribute__((noinline)) int one_throw() {
  int seen = -1;
  __transaction_atomic {
    seen = throw_and_catch(g_throw);
  }
  return seen;
}

void one_thread() {
  for (long i = 0; i < 100; ++i) {
    const int seen = one_throw();
    if (seen != 3) {
      check(false, "1: throw " + std::to_string(i) + ": the handler saw " +
                       (seen & 1 ? "" : "a wrong object through barriers ") +
                       (seen & 2 ? "" : "a wrong object in memory after the handler"));
      return;
    }
  }
}

// ---- 3 and 4: rollbacks with exceptions in play ------------------------------------------------

long g_conflict = 0;
long g_written = 0;
bool g_provoke = false;
int g_attempts = 0;

__attribute__((transaction_pure)) void count_attempt() {
  ++g_attempts;
}

// The first call after g_provoke is set: another thread commits a write to g_conflict, which
// the caller has read (so the caller's attempt rolls back when it writes g_conflict, or reads
// it again).
__attribute__((transaction_pure)) void provoke_once() {
  if (!g_provoke) return;
  g_provoke = false;
  std::thread([] {
    __transaction_atomic {
      ++g_conflict;
    }
  }).join();
}

__attribute__((noinline)) void throw_out_of_a_transaction() {
  __transaction_atomic {
    count_attempt();
    g_written += 1;
    const long before = g_conflict;
    provoke_once();
    g_conflict = before + 1;  // over the other thread's write: the commit fails
    if (g_throw) throw 7;
  }
}

__attribute__((transaction_safe, noinline)) long read_in_a_handler(bool really) {
  try {
    if (really) throw 8;
  } catch (int) {
    return g_conflict;  // newer than the snapshot after provoke_once: the attempt rolls back here
  }
  return -1;
}

__attribute__((noinline)) long roll_back_in_a_handler() {
  long seen = -2;
  __transaction_atomic {
    count_attempt();
    g_exceptions_last = g_conflict;  // (external: the read is not optimised away)
    provoke_once();
    seen = read_in_a_handler(g_throw);
  }
  return seen;
}

void rollbacks_with_exceptions() {
  g_written = 0;
  g_provoke = true;
  g_attempts = 0;
  int caught = 0;
  try {
    throw_out_of_a_transaction();
  } catch (int e) {
    caught = e;
  }
  check(caught == 7 && g_written == 1 && g_attempts == 2,
        "3: caught " + std::to_string(caught) + ", written " + std::to_string(g_written) +
            " times in " + std::to_string(g_attempts) + " attempts (expected 7, once, 2)");
  check(std::uncaught_exceptions() == 0, "3: std::uncaught_exceptions() is " +
                                             std::to_string(std::uncaught_exceptions()) +
                                             " after the exception was caught");

  g_provoke = true;
  g_attempts = 0;
  const long seen = roll_back_in_a_handler();
  check(seen == g_conflict && g_attempts == 2,
        "4: the handler read " + std::to_string(seen) + " in " + std::to_string(g_attempts) +
            " attempts, expected " + std::to_string(g_conflict) + " in 2");
  check(std::current_exception() == nullptr,
        "4: std::current_exception() is not null outside any handler");
  check(std::uncaught_exceptions() == 0,
        "4: std::uncaught_exceptions() is " + std::to_string(std::uncaught_exceptions()));
}

long g_owner_destructions = 0;
bool g_cancel = true;  // (not a constant: g++ keeps both paths)

struct owning {
  long code;
  int* memory;
  __attribute__((transaction_safe)) owning() : code(42), memory(new int(5)) {}
  __attribute__((transaction_safe)) ~owning() {
    ++g_owner_destructions;
    delete memory;
  }
};

// (g++ 12 ends with an internal compiler error on `throw owning{42, new int(5)}`: the
// allocation is in the constructor.)
__attribute__((transaction_safe, noinline)) long catch_an_owner(bool really) {
  long seen = 0;
  try {
    if (really) throw owning();
  } catch (const owning& o) {
    seen = o.code;
  }
  return seen;
}

void caught_then_cancelled(const char* mode) {
  for (bool cancel : {true, false}) {
    g_owner_destructions = 0;
    g_cancel = cancel;
    long seen = 0;
    __transaction_atomic {
      seen = catch_an_owner(g_throw);
      if (g_cancel) __transaction_cancel;
    }
    const long expected = cancel ? 0 : 1;
    check(seen == (cancel ? 0 : 42) && g_owner_destructions == expected,
          std::string("5 (") + mode + (cancel ? ", cancelled" : ", committed") + "): seen " +
              std::to_string(seen) + ", the exception destroyed " +
              std::to_string(g_owner_destructions) + " times (expected " +
              std::to_string(expected) + ")");
  }
}

__attribute__((transaction_may_cancel_outer, noinline)) void cancel_outer_now() {
  if (g_cancel) __transaction_cancel [[outer]];
}
struct cancels_when_unwound {
  __attribute__((transaction_may_cancel_outer)) ~cancels_when_unwound() { cancel_outer_now(); }
};
__attribute__((transaction_may_cancel_outer, noinline)) long throw_through_a_cancel(bool really) {
  long seen = 0;
  try {
    cancels_when_unwound guard;
    if (really) throw thrown{42, {1, 2, 3, 4, 5}};
  } catch (const thrown& t) {
    seen = t.code;
  }
  return seen;
}

void cancelled_while_unwinding(const char* mode) {
  g_cancel = true;
  long seen = -1;
  __transaction_atomic [[outer]] {
    seen = throw_through_a_cancel(g_throw);
  }
  check(seen == -1 && std::uncaught_exceptions() == 0,
        std::string("6 (") + mode + "): seen " + std::to_string(seen) +
            ", std::uncaught_exceptions() " + std::to_string(std::uncaught_exceptions()) +
            " (expected -1 and 0)");
}

constexpr int account_count = 8;
long g_accounts[account_count];

void threads(int count) {
  std::atomic<long> wrong{0};
  check_transfers(g_accounts, account_count, count, 3000 * stress_scale(),
                  "transfers that throw and catch", [&](int from, int to, long amount, long) {
                    int seen = -1;
                    __transaction_atomic {
                      g_accounts[from] -= amount;
                      seen = throw_and_catch(g_throw);
                      g_accounts[to] += amount;
                    }
                    if (seen != 3) wrong.fetch_add(1);
                  });
  check(wrong.load() == 0, "2, " + std::to_string(count) + " threads: " +
                               std::to_string(wrong.load()) + " handlers saw a wrong object");
}

}  // namespace

int main() {
  setenv("OPTIMIST_MODE", "stm", 1);  // read at the process's first transaction
  in_child(
      "exceptions",
      [] {
        one_thread();
        rollbacks_with_exceptions();
        for (int count : {2, 4}) threads(count);
        caught_then_cancelled("stm");
        cancelled_while_unwinding("stm");
      },
      120);
  setenv("OPTIMIST_MODE", "serial", 1);  // (this process runs no transaction: children do)
  in_child(
      "exceptions, serial",
      [] {
        caught_then_cancelled("serial");
        cancelled_while_unwinding("serial");
      },
      120);
  std::printf("itm exceptions: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
