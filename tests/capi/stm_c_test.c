/* tests/capi/stm_c_test.c — the C API (optimist/stm.h) from a C99 program.
 *
 * No C++ here: this is what an existing C code base sees. Each check that
 * fails prints where and why; the program ends with one line
 *   capi: N passed, M failed
 * and exits non-zero if anything failed.
 *
 * Covered: transfers on several pthreads conserve the sum (audited inside
 * every attempt, including attempts that are restarted); enter/exit repeated
 * and counted; misuse reported as a status, never a crash (not entered, no
 * transaction); optimist_tx_restart() really re-runs the transaction and
 * discards the first attempt's stores; memory from optimist_tx_malloc() in a
 * restarted attempt is freed (LeakSanitizer under ASan, heap statistics in a
 * plain build); optimist_tx_free() defers the free past the commit and is
 * undone by a restart; nested transactions are flattened; optimist_tx_retry()
 * sleeps until another thread's store and is refused with nothing read;
 * optimist_tx_retry_until() times out after its deadline, returns at once
 * past it, wakes on a store before it, and may wait having read nothing.
 *
 * OPTIMIST_STRESS (a positive integer) multiplies the loop sizes.
 */
#define _GNU_SOURCE 1

#include <optimist/stm.h>

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Which sanitizer, if any: heap statistics are only meaningful without one. */
#if defined(__SANITIZE_ADDRESS__)
#define CAPI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CAPI_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CAPI_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CAPI_TSAN 1
#endif
#endif
#if defined(CAPI_ASAN)
#include <sanitizer/lsan_interface.h>
#endif
#if !defined(CAPI_ASAN) && !defined(CAPI_TSAN)
#define CAPI_HEAP_STATISTICS 1
#endif

/* ---- a tiny test harness ---------------------------------------------------- */

static int g_failed_checks; /* checks failed in the running test */

#define CHECK(condition, ...)                                                             \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      fprintf(stderr, "  %s:%d: check failed: %s\n    ", __FILE__, __LINE__, #condition); \
      fprintf(stderr, __VA_ARGS__);                                                       \
      fputc('\n', stderr);                                                                \
      ++g_failed_checks;                                                                  \
    }                                                                                     \
  } while (0)

static long stress_scale(void) {
  const char* text = getenv("OPTIMIST_STRESS");
  char* end = NULL;
  long value;
  if (text == NULL || *text == '\0') return 1;
  value = strtol(text, &end, 10);
  if (*end != '\0' || value < 1) {
    fprintf(stderr, "OPTIMIST_STRESS='%s': expected a positive integer\n", text);
    exit(2);
  }
  return value;
}

static void think(int iterations) {
  volatile int i;
  for (i = 0; i < iterations; ++i) {
  }
}

static void run_threads(int count, void* (*body)(void*), void* args, size_t arg_size) {
  pthread_t threads[16];
  int i;
  for (i = 0; i < count; ++i) {
    if (pthread_create(&threads[i], NULL, body, (char*)args + (size_t)i * arg_size) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(2);
    }
  }
  for (i = 0; i < count; ++i) pthread_join(threads[i], NULL);
}

#if defined(CAPI_HEAP_STATISTICS)
/* Bytes the C heap has handed out and not got back (small and mmapped). */
static size_t heap_in_use(void) {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}
#endif

/* ---- transfers on several threads ---------------------------------------------- */

enum { account_count = 16, transfer_threads = 4 };
static const uint64_t initial_balance = 1000;

static uint64_t g_accounts[account_count];

struct transfer_worker {
  unsigned seed;
  long transfers;
  long audits;
  long bad_audits; /* written in every attempt, even restarted ones */
  long not_entered;
};

static unsigned next_random(unsigned* state) {
  *state = *state * 1103515245u + 12345u;
  return (*state >> 16) & 0x7fff;
}

static void transfer(struct transfer_worker* w, unsigned from, unsigned to, uint64_t amount) {
  int status;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) {
    ++w->not_entered;
    return;
  }
  {
    uint64_t from_balance = optimist_load_u64(&g_accounts[from]);
    think(20);
    if (from_balance >= amount) {
      optimist_store_u64(&g_accounts[from], from_balance - amount);
      optimist_store_u64(&g_accounts[to], optimist_load_u64(&g_accounts[to]) + amount);
    }
  }
  optimist_tx_commit();
}

static void audit(struct transfer_worker* w) {
  int status;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) {
    ++w->not_entered;
    return;
  }
  {
    uint64_t sum = 0;
    int i;
    for (i = 0; i < account_count; ++i) {
      sum += optimist_load_u64(&g_accounts[i]);
      if (i == account_count / 2) think(50);
    }
    if (sum != account_count * initial_balance) ++w->bad_audits;
  }
  optimist_tx_commit();
}

static void* transfer_body(void* arg) {
  struct transfer_worker* w = (struct transfer_worker*)arg;
  long i;
  optimist_thread_enter();
  for (i = 0; i < w->transfers; ++i) {
    unsigned from = next_random(&w->seed) % account_count;
    unsigned to = (from + 1 + next_random(&w->seed) % (account_count - 1)) % account_count;
    transfer(w, from, to, 1 + next_random(&w->seed) % 300);
    if (i % 8 == 0) {
      audit(w);
      ++w->audits;
    }
  }
  optimist_thread_exit();
  return NULL;
}

static void test_transfers_conserve_the_sum(void) {
  struct transfer_worker workers[transfer_threads];
  uint64_t sum = 0;
  long bad = 0, not_entered = 0;
  int i;
  for (i = 0; i < account_count; ++i) g_accounts[i] = initial_balance;
  memset(workers, 0, sizeof workers);
  for (i = 0; i < transfer_threads; ++i) {
    workers[i].seed = 17u + (unsigned)i * 7919u;
    workers[i].transfers = 20000 * stress_scale();
  }
  run_threads(transfer_threads, transfer_body, workers, sizeof workers[0]);
  for (i = 0; i < account_count; ++i) sum += g_accounts[i];
  for (i = 0; i < transfer_threads; ++i) {
    bad += workers[i].bad_audits;
    not_entered += workers[i].not_entered;
  }
  CHECK(sum == account_count * initial_balance, "sum after the run is %llu, expected %llu",
        (unsigned long long)sum, (unsigned long long)(account_count * initial_balance));
  CHECK(bad == 0, "%ld audit attempts saw a sum other than the total", bad);
  CHECK(not_entered == 0, "%ld transactions found their thread not entered", not_entered);
}

/* ---- enter / exit --------------------------------------------------------------- */

static uint64_t g_enter_counter;

static int increment_counter(void) {
  int status;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) return status;
  optimist_store_u64(&g_enter_counter, optimist_load_u64(&g_enter_counter) + 1);
  return optimist_tx_commit();
}

struct enter_worker {
  long rounds;
  long wrong_status;
};

static void* enter_exit_body(void* arg) {
  struct enter_worker* w = (struct enter_worker*)arg;
  long i;
  for (i = 0; i < w->rounds; ++i) {
    if (optimist_thread_enter() != OPTIMIST_OK) ++w->wrong_status;
    if (increment_counter() != OPTIMIST_OK) ++w->wrong_status;
    if (optimist_thread_exit() != OPTIMIST_OK) ++w->wrong_status;
  }
  return NULL;
}

static void test_enter_and_exit_repeatedly(void) {
  struct enter_worker workers[4];
  long rounds = 5000 * stress_scale();
  long wrong = 0;
  int i, status;

  /* Entering is counted: two enters need two exits. */
  CHECK(optimist_thread_enter() == OPTIMIST_OK, "first enter");
  CHECK(optimist_thread_enter() == OPTIMIST_OK, "second enter");
  CHECK(optimist_thread_exit() == OPTIMIST_OK, "first exit");
  g_enter_counter = 0;
  CHECK(increment_counter() == OPTIMIST_OK, "still entered after one of two exits");
  CHECK(optimist_thread_exit() == OPTIMIST_OK, "second exit");
  OPTIMIST_TX_BEGIN(status);
  CHECK(status == OPTIMIST_E_NOT_ENTERED, "after the last exit, begin gave %d (%s)", status,
        optimist_status_text(status));
  CHECK(optimist_thread_exit() == OPTIMIST_E_NOT_ENTERED, "an unmatched exit is reported");
  CHECK(g_enter_counter == 1, "counter %llu", (unsigned long long)g_enter_counter);

  /* Many rounds on one thread, then on several at once. */
  g_enter_counter = 0;
  memset(workers, 0, sizeof workers);
  workers[0].rounds = rounds;
  enter_exit_body(&workers[0]);
  CHECK(workers[0].wrong_status == 0, "%ld calls returned an error", workers[0].wrong_status);
  CHECK(g_enter_counter == (uint64_t)rounds, "counter %llu after %ld rounds",
        (unsigned long long)g_enter_counter, rounds);

  g_enter_counter = 0;
  for (i = 0; i < 4; ++i) {
    workers[i].rounds = rounds / 4;
    workers[i].wrong_status = 0;
  }
  run_threads(4, enter_exit_body, workers, sizeof workers[0]);
  for (i = 0; i < 4; ++i) wrong += workers[i].wrong_status;
  CHECK(wrong == 0, "%ld calls returned an error", wrong);
  CHECK(g_enter_counter == (uint64_t)(4 * (rounds / 4)), "counter %llu",
        (unsigned long long)g_enter_counter);
}

/* ---- misuse is reported --------------------------------------------------------- */

static uint64_t g_untouchable = 7;

struct misuse_report {
  int begin_status;
  uint64_t loaded;
  int commit_status;
  int restart_status;
  int exit_status;
  int in_transaction;
  void* allocated;
};

static void* never_entered_body(void* arg) {
  struct misuse_report* r = (struct misuse_report*)arg;
  int status = 12345;
  /* The messages these calls print on stderr are expected. */
  fprintf(stderr, "  (expected: messages about a thread that has not entered)\n");
  OPTIMIST_TX_BEGIN(status);
  r->begin_status = status;
  r->loaded = optimist_load_u64(&g_untouchable);
  optimist_store_u64(&g_untouchable, 99);
  r->commit_status = optimist_tx_commit();
  r->restart_status = optimist_tx_restart();
  r->exit_status = optimist_thread_exit();
  r->in_transaction = optimist_in_transaction();
  r->allocated = optimist_tx_malloc(64);
  return NULL;
}

static void test_begin_on_a_thread_that_has_not_entered(void) {
  struct misuse_report r;
  memset(&r, 0, sizeof r);
  run_threads(1, never_entered_body, &r, sizeof r);
  CHECK(r.begin_status == OPTIMIST_E_NOT_ENTERED, "OPTIMIST_TX_BEGIN gave %d (%s)", r.begin_status,
        optimist_status_text(r.begin_status));
  CHECK(r.loaded == 0, "a load on a thread not entered returned %llu, documented 0",
        (unsigned long long)r.loaded);
  CHECK(g_untouchable == 7, "a store on a thread not entered changed memory");
  CHECK(r.commit_status == OPTIMIST_E_NOT_ENTERED, "commit gave %d", r.commit_status);
  CHECK(r.restart_status == OPTIMIST_E_NOT_ENTERED, "restart gave %d", r.restart_status);
  CHECK(r.exit_status == OPTIMIST_E_NOT_ENTERED, "exit gave %d", r.exit_status);
  CHECK(r.in_transaction == 0, "in a transaction without having begun one");
  CHECK(r.allocated == NULL, "optimist_tx_malloc on a thread not entered returned memory");
  free(r.allocated);
}

static void test_commit_and_restart_outside_a_transaction(void) {
  int statuses[] = {OPTIMIST_OK, OPTIMIST_E_NOT_ENTERED, OPTIMIST_E_NO_TRANSACTION,
                    OPTIMIST_E_NO_MEMORY};
  size_t i;
  optimist_thread_enter();
  fprintf(stderr, "  (expected: messages about calls outside a transaction)\n");
  CHECK(optimist_in_transaction() == 0, "in a transaction before beginning one");
  CHECK(optimist_tx_commit() == OPTIMIST_E_NO_TRANSACTION, "commit outside a transaction");
  CHECK(optimist_tx_restart() == OPTIMIST_E_NO_TRANSACTION, "restart outside a transaction");
  for (i = 0; i < sizeof statuses / sizeof statuses[0]; ++i) {
    const char* text = optimist_status_text(statuses[i]);
    CHECK(text != NULL && text[0] != '\0', "status %d has no text", statuses[i]);
  }
  CHECK(strcmp(optimist_status_text(OPTIMIST_OK), optimist_status_text(-99)) != 0,
        "unknown statuses are not described as ok");
  /* A word accessed outside a transaction is a transaction of its own. */
  g_untouchable = 7;
  optimist_store_u64(&g_untouchable, 8);
  CHECK(optimist_load_u64(&g_untouchable) == 8, "single store and load outside a transaction");
  optimist_thread_exit();
}

/* ---- restart ------------------------------------------------------------------- */

static uint64_t g_restart_word;

static void test_restart_really_restarts(void) {
  volatile int attempts = 0;
  volatile uint64_t seen_in_second = 0;
  volatile uint64_t own_write_seen = 0;
  volatile int inside = 0;
  int status;
  optimist_thread_enter();
  g_restart_word = 10;
  OPTIMIST_TX_BEGIN(status);
  CHECK(status == OPTIMIST_OK, "begin gave %d", status);
  attempts = attempts + 1;
  inside = optimist_in_transaction();
  if (attempts == 1) {
    optimist_store_u64(&g_restart_word, 99);
    own_write_seen = optimist_load_u64(&g_restart_word);
    optimist_tx_restart();
    CHECK(0, "optimist_tx_restart() returned inside a transaction");
  }
  seen_in_second = optimist_load_u64(&g_restart_word);
  optimist_store_u64(&g_restart_word, seen_in_second + 1);
  CHECK(optimist_tx_commit() == OPTIMIST_OK, "commit of the second attempt");

  CHECK(attempts == 2, "the transaction ran %d times, expected 2", attempts);
  CHECK(inside == 1, "optimist_in_transaction() was 0 inside the transaction");
  CHECK(own_write_seen == 99, "the first attempt did not read its own store (%llu)",
        (unsigned long long)own_write_seen);
  CHECK(seen_in_second == 10, "the restarted attempt saw %llu: the first attempt's store leaked",
        (unsigned long long)seen_in_second);
  CHECK(g_restart_word == 11, "final value %llu", (unsigned long long)g_restart_word);
  CHECK(optimist_in_transaction() == 0, "still in a transaction after the commit");
  optimist_thread_exit();
}

/* ---- optimist_tx_malloc in restarted attempts ----------------------------------- */

enum { big_block = 256 * 1024 };
static void* g_slot;

/* One transaction: the first attempt allocates a big block, publishes it and
 * restarts; the second allocates another and commits. Returns the committed
 * block, or NULL. */
static void* allocate_with_one_restart(void) {
  volatile int attempts = 0;
  void* block;
  int status;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) return NULL;
  attempts = attempts + 1;
  block = optimist_tx_malloc(big_block);
  if (block == NULL) {
    optimist_tx_commit();
    return NULL;
  }
  memset(block, attempts, big_block);
  optimist_store_ptr(&g_slot, block);
  if (attempts == 1) optimist_tx_restart();
  optimist_tx_commit();
  return block;
}

struct malloc_worker {
  long rounds;
  long wrong;
};

static void* malloc_body(void* arg) {
  struct malloc_worker* w = (struct malloc_worker*)arg;
  long i;
  optimist_thread_enter();
  for (i = 0; i < w->rounds; ++i) {
    unsigned char* block = (unsigned char*)allocate_with_one_restart();
    if (block == NULL || block[0] != 2 || block[big_block - 1] != 2) {
      ++w->wrong;
    }
    free(block); /* committed: the program owns it now */
  }
  optimist_thread_exit();
  return NULL;
}

static void test_malloc_in_a_restarted_attempt_is_freed(void) {
  struct malloc_worker w;
#if defined(CAPI_HEAP_STATISTICS)
  size_t before = heap_in_use(), after;
#endif
  w.rounds = 200 * stress_scale();
  w.wrong = 0;
  /* On a thread of its own, so that no stale copy of a pointer on this
   * thread's stack can hide a leak from LeakSanitizer. */
  run_threads(1, malloc_body, &w, sizeof w);
  CHECK(w.wrong == 0, "%ld committed blocks were missing or not the second attempt's", w.wrong);
#if defined(CAPI_HEAP_STATISTICS)
  after = heap_in_use();
  CHECK(after < before + 8u * big_block,
        "the heap grew by %zu KiB over %ld restarted attempts of %d KiB each: the first "
        "attempts' blocks were not freed",
        (after - before) / 1024, w.rounds, big_block / 1024);
#endif
#if defined(CAPI_ASAN)
  CHECK(__lsan_do_recoverable_leak_check() == 0,
        "LeakSanitizer found leaks (report above): a restarted attempt's block was not freed");
#endif
}

/* ---- optimist_tx_free ------------------------------------------------------------ */

struct free_worker {
  long rounds;
  long wrong;
};

/* Unlinks the block in g_slot and frees it; the first attempt restarts after
 * freeing, so the block must survive it. */
static int unlink_and_free_with_one_restart(unsigned char* expected) {
  volatile int attempts = 0;
  volatile int intact_after_restart = 0;
  unsigned char* block;
  int status;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) return 0;
  attempts = attempts + 1;
  block = (unsigned char*)optimist_load_ptr(&g_slot);
  if (attempts == 2) {
    /* The first attempt's free was undone: the memory is still ours
     * (AddressSanitizer would report a use after free here). */
    intact_after_restart = block == expected && block[0] == 0x5A && block[big_block - 1] == 0x5A;
  }
  optimist_store_ptr(&g_slot, NULL);
  optimist_tx_free(block);
  if (attempts == 1) optimist_tx_restart();
  optimist_tx_commit();
  return intact_after_restart;
}

static void* free_body(void* arg) {
  struct free_worker* w = (struct free_worker*)arg;
  long i;
  optimist_thread_enter();
  for (i = 0; i < w->rounds; ++i) {
    unsigned char* block;
    int status;
    OPTIMIST_TX_BEGIN(status);
    if (status != OPTIMIST_OK) {
      ++w->wrong;
      break;
    }
    block = (unsigned char*)optimist_tx_malloc(big_block);
    if (block != NULL) memset(block, 0x5A, big_block);
    optimist_store_ptr(&g_slot, block);
    optimist_tx_commit();
    if (block == NULL || !unlink_and_free_with_one_restart(block)) ++w->wrong;
  }
  optimist_tx_free(NULL); /* ignored */
  optimist_thread_exit();
  return NULL;
}

static void test_tx_free(void) {
  struct free_worker w;
  unsigned char* twice;
  int status;
#if defined(CAPI_HEAP_STATISTICS)
  size_t before = heap_in_use(), after;
#endif
  w.rounds = 400 * stress_scale();
  w.wrong = 0;
  run_threads(1, free_body, &w, sizeof w);
  CHECK(w.wrong == 0, "%ld blocks were freed by a restarted attempt, or lost", w.wrong);
#if defined(CAPI_HEAP_STATISTICS)
  /* Freed blocks are reclaimed in batches; the ones the ended thread had not
   * reclaimed yet are handed over, never more than a batch. */
  after = heap_in_use();
  CHECK(after < before + 100u * big_block,
        "the heap grew by %zu KiB after freeing %ld blocks of %d KiB: optimist_tx_free() "
        "never frees",
        (after - before) / 1024, w.rounds, big_block / 1024);
#endif

  /* Freeing the same block twice in one transaction is reported, not done. */
  optimist_thread_enter();
  fprintf(stderr, "  (expected: a message about a block freed twice)\n");
  twice = (unsigned char*)malloc(64);
  OPTIMIST_TX_BEGIN(status);
  CHECK(status == OPTIMIST_OK, "begin gave %d", status);
  optimist_tx_free(twice);
  optimist_tx_free(twice);
  CHECK(optimist_tx_commit() == OPTIMIST_OK, "commit after a double free");
  /* Outside a transaction: retired at once (freed later, exactly once). */
  optimist_tx_free(malloc(64));
  optimist_thread_exit();
}

/* ---- nesting --------------------------------------------------------------------- */

static uint64_t g_outer_word, g_inner_word;

static void test_nested_transactions_are_flattened(void) {
  volatile int attempts = 0;
  volatile int inner_status = -100;
  volatile int inner_commit = -100;
  volatile int still_inside = 0;
  volatile uint64_t inner_visible_early = 1;
  int status;
  optimist_thread_enter();
  g_outer_word = 0;
  g_inner_word = 0;
  OPTIMIST_TX_BEGIN(status);
  CHECK(status == OPTIMIST_OK, "outer begin gave %d", status);
  attempts = attempts + 1;
  optimist_store_u64(&g_outer_word, optimist_load_u64(&g_outer_word) + 1);
  {
    int nested;
    OPTIMIST_TX_BEGIN(nested);
    inner_status = nested;
    optimist_store_u64(&g_inner_word, optimist_load_u64(&g_inner_word) + 1);
    if (attempts == 1) optimist_tx_restart(); /* restarts the outermost transaction */
    inner_commit = optimist_tx_commit();
  }
  still_inside = optimist_in_transaction();
  inner_visible_early = g_inner_word; /* plain read: the inner commit published nothing */
  CHECK(optimist_tx_commit() == OPTIMIST_OK, "outer commit");

  CHECK(attempts == 2, "ran %d times", attempts);
  CHECK(inner_status == OPTIMIST_OK, "nested begin gave %d", inner_status);
  CHECK(inner_commit == OPTIMIST_OK, "nested commit gave %d", inner_commit);
  CHECK(still_inside == 1, "the nested commit ended the outer transaction");
  CHECK(inner_visible_early == 0, "the nested commit wrote to memory before the outer one");
  CHECK(g_outer_word == 1 && g_inner_word == 1,
        "after one restart and one commit: outer %llu, inner %llu (the restart did not undo both)",
        (unsigned long long)g_outer_word, (unsigned long long)g_inner_word);
  optimist_thread_exit();
}

/* ---- optimist_tx_retry ------------------------------------------------------------ */

static uint64_t g_retry_flag;
static int g_retry_attempts; /* GCC atomic builtins: counted across attempts and threads */

static void* retry_waiter_body(void* arg) {
  uint64_t* seen = (uint64_t*)arg;
  int status;
  optimist_thread_enter();
  OPTIMIST_TX_BEGIN(status);
  if (status == OPTIMIST_OK) {
    __atomic_fetch_add(&g_retry_attempts, 1, __ATOMIC_SEQ_CST);
    if (optimist_load_u64(&g_retry_flag) == 0) optimist_tx_retry(); /* sleeps, then re-runs */
    *seen = optimist_load_u64(&g_retry_flag);
    optimist_tx_commit();
  }
  optimist_thread_exit();
  return NULL;
}

static void test_retry_sleeps_until_a_store(void) {
  const struct timespec pause = {0, 20 * 1000 * 1000};
  pthread_t waiter;
  uint64_t seen = 0;
  int status, refused, attempts_before_store;
  g_retry_flag = 0;
  g_retry_attempts = 0;
  optimist_thread_enter();
  fprintf(stderr,
          "  (expected: messages about a retry outside a transaction and with nothing read)\n");
  CHECK(optimist_tx_retry() == OPTIMIST_E_NO_TRANSACTION, "retry outside a transaction");
  if (pthread_create(&waiter, NULL, retry_waiter_body, &seen) != 0) {
    fprintf(stderr, "pthread_create failed\n");
    exit(2);
  }
  while (__atomic_load_n(&g_retry_attempts, __ATOMIC_SEQ_CST) == 0) nanosleep(&pause, NULL);
  nanosleep(&pause, NULL);
  attempts_before_store = __atomic_load_n(&g_retry_attempts, __ATOMIC_SEQ_CST);
  optimist_store_u64(&g_retry_flag, 9);
  pthread_join(waiter, NULL);
  CHECK(attempts_before_store == 1, "the waiter ran %d attempts before the store (not asleep)",
        attempts_before_store);
  CHECK(seen == 9, "the waiter saw %llu", (unsigned long long)seen);
  CHECK(g_retry_attempts == 2, "the waiter ran %d attempts in all", g_retry_attempts);

  OPTIMIST_TX_BEGIN(status);
  refused = optimist_tx_retry(); /* nothing read: nothing could ever wake it */
  CHECK(optimist_tx_commit() == OPTIMIST_OK, "commit after a refused retry");
  CHECK(status == OPTIMIST_OK, "begin gave %d", status);
  CHECK(refused == OPTIMIST_E_RETRY_REFUSED, "retry with nothing read gave %d (%s)", refused,
        optimist_status_text(refused));
  optimist_thread_exit();
}

/* ---- optimist_tx_retry_until ------------------------------------------------------ */

static uint64_t g_timed_flag;
static int g_timed_attempts; /* GCC atomic builtins: read by another thread */

/* Waits up to `deadline` for g_timed_flag; returns what it saw (0: timed out). */
static uint64_t wait_for_timed_flag(uint64_t deadline) {
  volatile uint64_t seen = 0; /* written after the restart point, read after the commit */
  int status;
  OPTIMIST_TX_BEGIN(status);
  if (status == OPTIMIST_OK) {
    __atomic_fetch_add(&g_timed_attempts, 1, __ATOMIC_SEQ_CST);
    seen = optimist_load_u64(&g_timed_flag);
    if (seen == 0) optimist_tx_retry_until(deadline); /* returns only once the deadline passed */
    optimist_tx_commit();
  }
  return seen;
}

static void* timed_waiter_body(void* arg) {
  optimist_thread_enter();
  *(uint64_t*)arg = wait_for_timed_flag(optimist_now_ns() + 30ull * 1000 * 1000 * 1000);
  optimist_thread_exit();
  return NULL;
}

static void test_retry_until_times_out_or_wakes(void) {
  const struct timespec pause = {0, 20 * 1000 * 1000};
  pthread_t waiter;
  uint64_t deadline, seen = 0;
  int status, attempts;
  optimist_thread_enter();
  fprintf(stderr, "  (expected: a message about a retry outside a transaction)\n");
  CHECK(optimist_tx_retry_until(optimist_now_ns() + 1000000000) == OPTIMIST_E_NO_TRANSACTION,
        "retry_until outside a transaction");

  /* Nobody writes the flag: it times out, after its deadline, having waited. A
   * serial attempt's retry first runs the block again speculatively: 3. */
  g_timed_flag = 0;
  g_timed_attempts = 0;
  deadline = optimist_now_ns() + 100ull * 1000 * 1000;
  seen = wait_for_timed_flag(deadline);
  attempts = __atomic_load_n(&g_timed_attempts, __ATOMIC_SEQ_CST);
  CHECK(seen == 0, "the timed-out waiter saw %llu", (unsigned long long)seen);
  CHECK(optimist_now_ns() >= deadline, "retry_until returned before its deadline");
  CHECK(attempts >= 2 && attempts <= 3, "the timed-out waiter ran %d attempts", attempts);

  /* A deadline that has passed: OPTIMIST_OK at once, the transaction goes on. */
  g_timed_attempts = 0;
  seen = wait_for_timed_flag(optimist_now_ns() - 1);
  CHECK(seen == 0 && g_timed_attempts == 1, "a passed deadline: %d attempts", g_timed_attempts);

  /* A store before the deadline wakes it. */
  g_timed_attempts = 0;
  seen = 0;
  if (pthread_create(&waiter, NULL, timed_waiter_body, &seen) != 0) {
    fprintf(stderr, "pthread_create failed\n");
    exit(2);
  }
  while (__atomic_load_n(&g_timed_attempts, __ATOMIC_SEQ_CST) == 0) nanosleep(&pause, NULL);
  nanosleep(&pause, NULL);
  optimist_store_u64(&g_timed_flag, 9);
  pthread_join(waiter, NULL);
  CHECK(seen == 9, "the woken waiter saw %llu", (unsigned long long)seen);

  /* Nothing read: it may wait, and sleeps until the deadline. */
  g_timed_attempts = 0;
  deadline = optimist_now_ns() + 50ull * 1000 * 1000;
  OPTIMIST_TX_BEGIN(status);
  if (status == OPTIMIST_OK) {
    __atomic_fetch_add(&g_timed_attempts, 1, __ATOMIC_SEQ_CST);
    optimist_tx_retry_until(deadline);
    optimist_tx_commit();
  }
  attempts = __atomic_load_n(&g_timed_attempts, __ATOMIC_SEQ_CST);
  CHECK(optimist_now_ns() >= deadline, "a block that read nothing ended before its deadline");
  CHECK(attempts >= 2 && attempts <= 3, "a block that read nothing ran %d attempts", attempts);
  optimist_thread_exit();
}

/* ---- runner ---------------------------------------------------------------------- */

struct test_case {
  const char* name;
  void (*run)(void);
};

int main(void) {
  static const struct test_case tests[] = {
      {"transfers_conserve_the_sum", test_transfers_conserve_the_sum},
      {"enter_and_exit_repeatedly", test_enter_and_exit_repeatedly},
      {"begin_on_a_thread_that_has_not_entered", test_begin_on_a_thread_that_has_not_entered},
      {"commit_and_restart_outside_a_transaction", test_commit_and_restart_outside_a_transaction},
      {"restart_really_restarts", test_restart_really_restarts},
      {"malloc_in_a_restarted_attempt_is_freed", test_malloc_in_a_restarted_attempt_is_freed},
      {"tx_free", test_tx_free},
      {"nested_transactions_are_flattened", test_nested_transactions_are_flattened},
      {"retry_sleeps_until_a_store", test_retry_sleeps_until_a_store},
      {"retry_until_times_out_or_wakes", test_retry_until_times_out_or_wakes},
  };
  const size_t count = sizeof tests / sizeof tests[0];
  int passed = 0, failed = 0;
  size_t i;
  setvbuf(stdout, NULL, _IONBF, 0);
  for (i = 0; i < count; ++i) {
    g_failed_checks = 0;
    printf("[ RUN  ] %s\n", tests[i].name);
    tests[i].run();
    if (g_failed_checks == 0) {
      ++passed;
      printf("[  OK  ] %s\n", tests[i].name);
    } else {
      ++failed;
      printf("[ FAIL ] %s (%d checks failed)\n", tests[i].name, g_failed_checks);
    }
  }
  printf("capi: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
