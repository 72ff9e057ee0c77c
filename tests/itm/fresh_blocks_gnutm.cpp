// tests/itm/fresh_blocks_gnutm.cpp — a block a speculative -fgnu-tm attempt allocates is written
// in place (INVARIANT fresh-in-place, runtime/itm/itm_barriers.cpp). Built with -fgnu-tm -g and
// linked with optimist_itm; everything runs in a child process with OPTIMIST_MODE=stm, so that
// every attempt is speculative (auto runs a lone thread's blocks serially, in place anyway).
//
// Whether a write went in place is seen from inside the attempt: a transaction_pure function
// reads the word with a plain load (a buffered write is not in memory yet).
// 1. A new node's field is written in place, and the committed node holds it.
// 2. The next transaction of the same thread writes that node (allocated by the last attempt,
//    not by this one) and cancels: the write must have been buffered, and the cancel leaves the
//    node as it was. Fails if the fresh block outlived its attempt.
// 3. Two blocks allocated in one attempt: both are written in place (not only the last one);
//    the attempt reads both back, and after the commit memory holds both.
// 4. A cancel after in-place writes to a new block and a buffered write to a global: the global
//    is unchanged (the block is freed with the attempt).
// 5. Threads (2 and 4) push new nodes onto a shared stack and pop them, conflicting on the
//    head; readers walk the stack and check that every node they reach is fully initialised
//    (its check word matches its value); at the end every pushed value is accounted for.
// 6. g++ accesses memory its transaction allocated, in the allocating function, with plain loads
//    and stores, and the same memory through a library barrier (memset) with barriers: two
//    12-byte blocks are cleared with memset (the older one too, and their last 4 bytes are part
//    of a word) and their last fields then assigned with plain stores: the stores must win,
//    inside the attempt and after the commit. Fails if any memset byte went to the redo log
//    (its write-back at commit undid the plain store: {0, 0, 0}).
// 7. The same in an attempt that runs irrevocably: another thread commits a write to a word the
//    transaction read, in each attempt until the transaction, starved, runs irrevocably (as
//    any transaction does after 12 aborts in a row). Fails if that attempt buffered the memset
//    (an irrevocable attempt buffers its writes too, and only optimistic ones wrote fresh
//    blocks in place: {0, 0, 0} under contention).
// OPTIMIST_STRESS (a positive integer) multiplies the operations of 5.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

extern "C" __attribute__((transaction_pure)) int _ITM_inTransaction();

namespace {

constexpr int in_irrevocable_transaction = 2;  // _ITM_inTransaction's inIrrevocableTransaction

struct node {
  long value;
  long check;  // ~value once initialised
  node* next;
};

__attribute__((transaction_pure)) long plain_load(const long* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

// The same, noted where a cancel cannot undo it (a pure function's store; the locals a cancelled
// transaction assigned are restored).
long g_noted = -1;
__attribute__((transaction_pure)) long note_plain_load(const long* p) {
  g_noted = __atomic_load_n(p, __ATOMIC_RELAXED);
  return g_noted;
}

// ---- 1 to 4: one thread --------------------------------------------------------------------

node* g_kept = nullptr;
long g_global = 10;

void written_in_place() {
  long seen = 0;
  __transaction_atomic {
    node* n = new node;
    n->value = 5;
    n->check = ~5L;
    n->next = nullptr;
    seen = plain_load(&n->value);
    g_kept = n;
  }
  check(seen == 5, "1: a new node's field was not written in place (plain load saw " +
                       std::to_string(seen) + ")");
  check(g_kept != nullptr && g_kept->value == 5 && g_kept->check == ~5L,
        "1: the committed node does not hold its fields");
}

void an_older_block_is_buffered() {
  __transaction_atomic {
    g_kept->value = 99;
    if (note_plain_load(&g_kept->value) >= 0) __transaction_cancel;
  }
  const long seen = g_noted;
  check(seen == 5, "2: a write to the last transaction's block went in place (plain load saw " +
                       std::to_string(seen) + ")");
  check(g_kept->value == 5,
        "2: the cancel left the node's value at " + std::to_string(g_kept->value) + ", expected 5");
}

void two_blocks_in_one_attempt() {
  node* first = nullptr;
  node* second = nullptr;
  long seen_first = 0, seen_second = 0, read_first = 0, read_second = 0;
  __transaction_atomic {
    first = new node;
    second = new node;
    first->value = 1;
    second->value = 2;
    first->value = 11;  // (rewritten: the log keeps the last value)
    seen_first = plain_load(&first->value);
    seen_second = plain_load(&second->value);
    read_first = first->value;
    read_second = second->value;
  }
  check(seen_second == 2, "3: the newest block was not written in place");
  check(seen_first == 11, "3: the older block was not written in place (plain load saw " +
                              std::to_string(seen_first) + ")");
  check(read_first == 11 && read_second == 2,
        "3: the attempt read back " + std::to_string(read_first) + " and " +
            std::to_string(read_second) + ", expected 11 and 2");
  check(first->value == 11 && second->value == 2, "3: after the commit memory holds " +
                                                      std::to_string(first->value) + " and " +
                                                      std::to_string(second->value));
  delete first;
  delete second;
}

void cancel_after_in_place_writes() {
  __transaction_atomic {
    node* n = new node;
    n->value = 7;
    g_global = 20;
    if (note_plain_load(&n->value) >= 0) __transaction_cancel;
  }
  const long seen = g_noted;
  check(seen == 7, "4: the new node was not written in place");
  check(g_global == 10, "4: the cancel left g_global at " + std::to_string(g_global));
}

// ---- 6: a word the log already holds -------------------------------------------------------

struct twelve_bytes {
  int a, b, c;
};

void memset_then_a_field() {
  twelve_bytes* p = nullptr;
  twelve_bytes* q = nullptr;
  int seen = -1;
  __transaction_atomic {
    p = new twelve_bytes;
    q = new twelve_bytes;  // p is not the last block any more
    __builtin_memset(p, 0, sizeof *p);
    __builtin_memset(q, 0, sizeof *q);
    p->c = 5;
    q->c = 6;
    seen = p->c + 10 * q->c;
  }
  check(seen == 65,
        "6: the attempt read its fields back as " + std::to_string(seen) + ", expected 65");
  for (const twelve_bytes* t : {p, q}) {
    const int expected = t == p ? 5 : 6;
    check(t->a == 0 && t->b == 0 && t->c == expected,
          "6: after the commit a block holds {" + std::to_string(t->a) + ", " +
              std::to_string(t->b) + ", " + std::to_string(t->c) + "}, expected {0, 0, " +
              std::to_string(expected) + "}");
  }
  delete p;
  delete q;
}

// ---- 7: in an irrevocable attempt ---------------------------------------------------------

long g_contended = 0;
int g_provoked = 0;

// Until the calling transaction runs irrevocably, another thread commits a write to
// g_contended, which the caller read before the call and reads again after it: the attempt
// restarts. (An irrevocable caller holds g_contended, so that thread would wait for it.)
__attribute__((transaction_pure)) void lose_unless_irrevocable() {
  if (_ITM_inTransaction() == in_irrevocable_transaction) return;
  ++g_provoked;
  std::thread([] {
    __transaction_atomic {
      ++g_contended;
    }
  }).join();
}

void memset_then_a_field_irrevocably() {
  twelve_bytes* p = nullptr;
  int seen = -1;
  int state = -1;
  long lost = -1;
  __transaction_atomic {
    const long before = g_contended;
    lose_unless_irrevocable();
    lost = g_contended - before;  // 0 when it ran irrevocably (or it restarts here)
    p = new twelve_bytes;
    __builtin_memset(p, 0, sizeof *p);
    p->c = 5;
    seen = p->c;
    state = _ITM_inTransaction();
  }
  check(state == in_irrevocable_transaction && lost == 0 && g_provoked > 0,
        "7: the transaction did not end irrevocably (state " + std::to_string(state) +
            ", attempts lost " + std::to_string(g_provoked) + ")");
  check(seen == 5, "7: the attempt read its field back as " + std::to_string(seen));
  check(p->a == 0 && p->b == 0 && p->c == 5,
        "7: after the commit the block holds {" + std::to_string(p->a) + ", " +
            std::to_string(p->b) + ", " + std::to_string(p->c) + "}, expected {0, 0, 5}");
  delete p;
}

// ---- 5: a shared stack ---------------------------------------------------------------------

node* g_top = nullptr;
long g_pushed_sum = 0;  // inside the transactions: what the stack should hold

void push(long value) {
  __transaction_atomic {
    node* n = new node;
    n->value = value;
    n->check = ~value;
    n->next = g_top;
    g_top = n;
    g_pushed_sum += value;
  }
}

bool pop() {
  bool popped = false;
  __transaction_atomic {
    node* n = g_top;
    if (n != nullptr) {
      g_top = n->next;
      g_pushed_sum -= n->value;
      delete n;  // deferred: readers that still hold it finish first
      popped = true;
    }
  }
  return popped;
}

// Walks the stack in one transaction: the number of nodes whose check word is wrong, and their
// sum into `sum`.
long broken_nodes(long& sum) {
  long broken = 0;
  long total = 0;
  __transaction_atomic {
    broken = 0;
    total = 0;
    for (node* n = g_top; n != nullptr; n = n->next) {
      if (n->check != ~n->value) ++broken;
      total += n->value;
    }
  }
  sum = total;
  return broken;
}

void shared_stack(int threads) {
  const long per_thread = 20000 * stress_scale();
  std::atomic<long> broken{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long i = 0; i < per_thread; ++i) {
        push(t * per_thread + i + 1);
        if (i % 3 == 2) pop();
        if (i % 64 == 0) {
          long sum = 0;
          broken += broken_nodes(sum);
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  long sum = 0;
  broken += broken_nodes(sum);
  check(broken.load() == 0, "5: readers met " + std::to_string(broken.load()) +
                                " uninitialised node(s) at " + std::to_string(threads) +
                                " threads");
  check(sum == g_pushed_sum, "5: the stack holds " + std::to_string(sum) + ", the pushes say " +
                                 std::to_string(g_pushed_sum) + " at " + std::to_string(threads) +
                                 " threads");
  while (pop()) {
  }
  check(g_pushed_sum == 0,
        "5: after popping everything the sum is " + std::to_string(g_pushed_sum));
}

}  // namespace

int main() {
  setenv("OPTIMIST_MODE", "stm", 1);  // read at the process's first transaction
  in_child(
      "fresh blocks",
      [] {
        written_in_place();
        an_older_block_is_buffered();
        two_blocks_in_one_attempt();
        cancel_after_in_place_writes();
        memset_then_a_field();
        memset_then_a_field_irrevocably();
        for (int threads : {2, 4}) shared_stack(threads);
        delete g_kept;
      },
      120);
  std::printf("itm fresh blocks: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
