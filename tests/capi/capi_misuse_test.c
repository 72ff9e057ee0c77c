/* tests/capi/capi_misuse_test.c — C API misuse that must neither corrupt memory nor
 * silently lose isolation (issue 11, items 9 and 15).
 *
 * - A thread that ends inside a transaction (returns from its thread function
 *   without optimist_tx_commit): its attempt is rolled back when the thread
 *   ends, nothing of it is ever committed, and the next thread that gets its
 *   descriptor starts clean. The end is reported on stderr, naming the line of
 *   the abandoned OPTIMIST_TX_BEGIN.
 * - The TinySTM order (optimist_tx_begin_() called before sigsetjmp): after a
 *   restart the body still runs inside a transaction, so every commit
 *   succeeds and the sum of the transfers is conserved.
 *
 * Runs before any other thread of this program touches optimist, so the
 * threads started after a dying one are the only candidates for its
 * descriptor. OPTIMIST_STRESS (a positive integer) multiplies the loop sizes.
 */
#define _GNU_SOURCE 1

#include <optimist/stm.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_failed_checks;

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

static void start_thread(pthread_t* thread, void* (*body)(void*), void* arg) {
  if (pthread_create(thread, NULL, body, arg) != 0) {
    fprintf(stderr, "pthread_create failed\n");
    exit(2);
  }
}

/* ---- stderr captured into a temporary file ---------------------------------------- */

struct captured_stderr {
  FILE* file;
  int saved;
};

static void capture_stderr(struct captured_stderr* c) {
  fflush(stderr);
  c->file = tmpfile();
  c->saved = dup(STDERR_FILENO);
  if (c->file == NULL || c->saved < 0 || dup2(fileno(c->file), STDERR_FILENO) < 0) {
    perror("capture_stderr");
    exit(2);
  }
}

/* Restores stderr; returns what was written meanwhile (malloc'ed, NUL-terminated). */
static char* release_stderr(struct captured_stderr* c) {
  long size;
  char* text;
  fflush(stderr);
  dup2(c->saved, STDERR_FILENO);
  close(c->saved);
  size = ftell(c->file);
  if (size < 0) size = 0;
  text = (char*)calloc((size_t)size + 1, 1);
  if (text == NULL) exit(2);
  rewind(c->file);
  if (size > 0 && fread(text, 1, (size_t)size, c->file) != (size_t)size) text[0] = '\0';
  fclose(c->file);
  fputs(text, stderr); /* still visible in the test log */
  return text;
}

/* ---- a thread that ends inside its transaction ------------------------------------- */

enum { later_threads = 4 };

static uint64_t g_abandoned;                  /* written only by the dying threads */
static uint64_t g_later_words[later_threads]; /* one per later thread */
static int g_abandoned_line;                  /* the line of the dying OPTIMIST_TX_BEGIN */
static pthread_barrier_t g_later_barrier;

struct dying_args {
  int nesting; /* 1: one transaction; 2: a nested one inside it */
};

static void* dying_body(void* arg) {
  const struct dying_args* a = (const struct dying_args*)arg;
  int status;
  optimist_thread_enter();
  g_abandoned_line = __LINE__ + 1;
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) return NULL;
  optimist_store_u64(&g_abandoned, optimist_load_u64(&g_abandoned) + 42);
  if (a->nesting > 1) {
    int nested;
    OPTIMIST_TX_BEGIN(nested);
    (void)nested;
    optimist_store_u64(&g_abandoned, 7);
  }
  return NULL; /* misuse: no commit, no optimist_thread_exit */
}

struct later_result {
  int index;
  int in_transaction_before; /* optimist_in_transaction() before its own begin */
  int commit;
};

static void* later_body(void* arg) {
  struct later_result* r = (struct later_result*)arg;
  int status;
  optimist_thread_enter();
  r->in_transaction_before = optimist_in_transaction();
  /* All later threads hold a descriptor at once, so one of them got the dead one. */
  pthread_barrier_wait(&g_later_barrier);
  OPTIMIST_TX_BEGIN(status);
  if (status != OPTIMIST_OK) {
    r->commit = status;
  } else {
    optimist_store_u64(&g_later_words[r->index], optimist_load_u64(&g_later_words[r->index]) + 1);
    r->commit = optimist_tx_commit();
  }
  optimist_thread_exit();
  return NULL;
}

static void check_thread_ending_inside_a_transaction(int nesting) {
  struct dying_args args;
  struct later_result results[later_threads];
  pthread_t dying, later[later_threads];
  struct captured_stderr captured;
  char* diagnostic;
  char expected_line[64];
  int i;
  args.nesting = nesting;
  g_abandoned = 0;
  memset(g_later_words, 0, sizeof g_later_words);
  capture_stderr(&captured);
  start_thread(&dying, dying_body, &args);
  pthread_join(dying, NULL);
  diagnostic = release_stderr(&captured);
  CHECK(g_abandoned == 0, "nesting %d: the dying thread's store reached memory: %llu", nesting,
        (unsigned long long)g_abandoned);

  pthread_barrier_init(&g_later_barrier, NULL, later_threads);
  for (i = 0; i < later_threads; ++i) {
    results[i].index = i;
    results[i].in_transaction_before = -1;
    results[i].commit = -100;
    start_thread(&later[i], later_body, &results[i]);
  }
  for (i = 0; i < later_threads; ++i) pthread_join(later[i], NULL);
  pthread_barrier_destroy(&g_later_barrier);

  CHECK(g_abandoned == 0,
        "nesting %d: a later thread's commit published the dead thread's store: %llu", nesting,
        (unsigned long long)g_abandoned);
  for (i = 0; i < later_threads; ++i) {
    CHECK(results[i].in_transaction_before == 0,
          "nesting %d: later thread %d started inside a transaction (%d)", nesting, i,
          results[i].in_transaction_before);
    CHECK(results[i].commit == OPTIMIST_OK, "nesting %d: later thread %d: commit gave %d (%s)",
          nesting, i, results[i].commit, optimist_status_text(results[i].commit));
    CHECK(g_later_words[i] == 1, "nesting %d: later thread %d's word is %llu, expected 1", nesting,
          i, (unsigned long long)g_later_words[i]);
  }
  snprintf(expected_line, sizeof expected_line, "capi_misuse_test.c:%d", g_abandoned_line);
  CHECK(strstr(diagnostic, "ended inside a transaction") != NULL &&
            strstr(diagnostic, expected_line) != NULL,
        "nesting %d: expected a diagnostic naming %s, got \"%s\"", nesting, expected_line,
        diagnostic);
  free(diagnostic);
}

static void test_thread_ending_inside_a_transaction(void) {
  check_thread_ending_inside_a_transaction(1);
}

static void test_thread_ending_inside_a_nested_transaction(void) {
  check_thread_ending_inside_a_transaction(2);
}

/* ---- begin before the restart point (the TinySTM order) ------------------------------ */

static uint64_t g_order_word, g_order_other;

/* One deterministic restart: the second attempt must run inside a transaction. */
static void test_begin_before_sigsetjmp_restarts_inside_a_transaction(void) {
  volatile int attempts = 0;
  volatile int inside_second = -1;
  int commit;
  sigjmp_buf* restart_point;
  optimist_thread_enter();
  g_order_word = 0;
  g_order_other = 5;
  restart_point = optimist_tx_restart_point_();
  CHECK(restart_point != NULL, "no restart point");
  if (restart_point == NULL) return;
  CHECK(optimist_tx_begin_() == OPTIMIST_OK, "begin");
  (void)sigsetjmp(*restart_point, 0); /* the TinySTM order, on purpose */
  attempts = attempts + 1;
  optimist_store_u64(&g_order_word, (uint64_t)attempts * 10);
  if (attempts == 1) optimist_tx_restart(); /* does not return */
  inside_second = optimist_in_transaction();
  optimist_store_u64(&g_order_other, optimist_load_u64(&g_order_other) + 1);
  commit = optimist_tx_commit();
  CHECK(attempts == 2, "ran %d attempts", attempts);
  CHECK(inside_second == 1, "the second attempt ran outside a transaction");
  CHECK(commit == OPTIMIST_OK, "commit of the second attempt gave %d (%s)", commit,
        optimist_status_text(commit));
  CHECK(g_order_word == 20 && g_order_other == 6, "after the commit: word %llu, other %llu",
        (unsigned long long)g_order_word, (unsigned long long)g_order_other);
  CHECK(optimist_in_transaction() == 0, "still inside a transaction after the commit");

  /* A nested transaction opened by the wrong-order body after a restart nests. */
  attempts = 0;
  restart_point = optimist_tx_restart_point_();
  optimist_tx_begin_();
  (void)sigsetjmp(*restart_point, 0);
  attempts = attempts + 1;
  optimist_store_u64(&g_order_word, 1);
  if (attempts == 1) optimist_tx_restart();
  {
    int nested;
    OPTIMIST_TX_BEGIN(nested);
    CHECK(nested == OPTIMIST_OK, "nested begin gave %d", nested);
    optimist_store_u64(&g_order_other, 100);
    CHECK(optimist_tx_commit() == OPTIMIST_OK, "nested commit");
  }
  CHECK(optimist_in_transaction() == 1, "the nested commit ended the outer transaction");
  CHECK(g_order_other == 6, "the nested commit published before the outer one");
  CHECK(optimist_tx_commit() == OPTIMIST_OK, "outer commit");
  CHECK(g_order_word == 1 && g_order_other == 100, "after the commit: word %llu, other %llu",
        (unsigned long long)g_order_word, (unsigned long long)g_order_other);
  optimist_thread_exit();
}

/* The TinySTM order with the restart point taken after the begin, as a port of
 * stm_start that calls optimist_tx_begin_() then returns
 * optimist_tx_restart_point_() does (INVARIANT c-point-order). Before, that
 * call returned the nested buffer and the restart jumped through the outermost
 * one, which was never set (a crash), also after a transaction in the
 * OPTIMIST_TX_BEGIN order and after a restart of one. */
static sigjmp_buf* port_stm_start(void) {
  optimist_tx_begin_();
  return optimist_tx_restart_point_();
}

static void test_restart_point_taken_after_the_begin(void) {
  volatile int attempts;
  int round, status, commit;
  optimist_thread_enter();
  for (round = 0; round < 3; ++round) {
    sigjmp_buf* restart_point;
    attempts = 0;
    g_order_word = 0;
    restart_point = port_stm_start();
    CHECK(restart_point != NULL, "round %d: no restart point", round);
    if (restart_point == NULL) break;
    (void)sigsetjmp(*restart_point, 0);
    attempts = attempts + 1;
    optimist_store_u64(&g_order_word, (uint64_t)attempts);
    if (attempts == 1) optimist_tx_restart(); /* does not return */
    {
      int nested; /* a nested level in the macro order inside it */
      OPTIMIST_TX_BEGIN(nested);
      CHECK(nested == OPTIMIST_OK, "round %d: nested begin gave %d", round, nested);
      optimist_store_u64(&g_order_other, (uint64_t)round);
      CHECK(optimist_tx_commit() == OPTIMIST_OK, "round %d: nested commit", round);
    }
    commit = optimist_tx_commit();
    CHECK(attempts == 2, "round %d: ran %d attempts", round, attempts);
    CHECK(commit == OPTIMIST_OK, "round %d: commit gave %d", round, commit);
    CHECK(g_order_word == 2 && g_order_other == (uint64_t)round, "round %d: word %llu, other %llu",
          round, (unsigned long long)g_order_word, (unsigned long long)g_order_other);
    /* Then one in the OPTIMIST_TX_BEGIN order, restarted once, between the rounds. */
    attempts = 0;
    OPTIMIST_TX_BEGIN(status);
    CHECK(status == OPTIMIST_OK, "round %d: OPTIMIST_TX_BEGIN gave %d", round, status);
    attempts = attempts + 1;
    if (attempts == 1) optimist_tx_restart();
    CHECK(optimist_tx_commit() == OPTIMIST_OK && attempts == 2, "round %d: macro order", round);
  }
  optimist_thread_exit();
}

/* A nested OPTIMIST_TX_BEGIN in a function that has returned before the
 * outer transaction restarts: the restart goes back to the outer begin. The
 * nested level must not take the outer restart point, also in an attempt
 * that a restart began (INVARIANT c-point-order). */
__attribute__((noinline)) static int nested_in_a_callee(void) {
  int nested;
  OPTIMIST_TX_BEGIN(nested);
  if (nested != OPTIMIST_OK) return nested;
  optimist_store_u64(&g_order_other, optimist_load_u64(&g_order_other) + 1);
  return optimist_tx_commit();
}

static void test_nested_begin_after_a_restart_keeps_the_outer_restart_point(void) {
  volatile int attempts = 0;
  int status, nested, commit;
  optimist_thread_enter();
  g_order_word = 0;
  g_order_other = 0;
  OPTIMIST_TX_BEGIN(status);
  CHECK(status == OPTIMIST_OK, "begin gave %d", status);
  attempts = attempts + 1;
  optimist_store_u64(&g_order_word, (uint64_t)attempts);
  if (attempts == 1) optimist_tx_restart(); /* the next attempt begins after a jump */
  nested = nested_in_a_callee();
  CHECK(nested == OPTIMIST_OK, "attempt %d: nested transaction gave %d", attempts, nested);
  if (attempts == 2) optimist_tx_restart(); /* back to the outer begin, not the callee's */
  commit = optimist_tx_commit();
  CHECK(attempts == 3, "ran %d attempts", attempts);
  CHECK(commit == OPTIMIST_OK, "commit gave %d", commit);
  CHECK(g_order_word == 3 && g_order_other == 1, "word %llu, other %llu",
        (unsigned long long)g_order_word, (unsigned long long)g_order_other);
  optimist_thread_exit();
}

/* A TinySTM-order attempt that a refused access ended, whose body (told it
 * is no longer in a transaction) skips the commit: the next OPTIMIST_TX_BEGIN
 * reports that error and the one after works. Before, every later begin of
 * the thread said "not entered", for good. */
static void test_an_uncollected_error_ends_with_the_next_begin(void) {
  volatile int attempts = 0;
  int inside, first, second;
  sigjmp_buf* restart_point;
  optimist_thread_enter();
  restart_point = optimist_tx_restart_point_();
  CHECK(restart_point != NULL, "no restart point");
  if (restart_point == NULL) return;
  optimist_tx_begin_();
  (void)sigsetjmp(*restart_point, 0); /* the TinySTM order */
  attempts = attempts + 1;
  if (attempts == 1) optimist_store_u64((uint64_t*)NULL, 1); /* refused: jumps back */
  inside = optimist_in_transaction();
  CHECK(attempts == 2 && inside == 0, "attempts %d, in a transaction %d", attempts, inside);
  /* (no commit: the body believed the transaction was over) */
  OPTIMIST_TX_BEGIN(first);
  CHECK(first == OPTIMIST_E_INVALID, "the next begin gave %d (%s), not the uncollected error",
        first, optimist_status_text(first));
  OPTIMIST_TX_BEGIN(second);
  CHECK(second == OPTIMIST_OK, "the begin after it gave %d (%s)", second,
        optimist_status_text(second));
  if (second == OPTIMIST_OK) {
    optimist_store_u64(&g_order_other, 7);
    CHECK(optimist_tx_commit() == OPTIMIST_OK, "commit");
    CHECK(g_order_other == 7, "the store did not commit");
  }
  optimist_thread_exit();
}

enum { order_threads = 2, order_words = 4 };
static uint64_t g_order_accounts[order_words];
static int g_order_failed_commits; /* GCC atomic builtins */

/* The reproducer's loop: transfers of 1 between neighbours, TinySTM order. */
static void* wrong_order_body(void* arg) {
  long iterations = *(const long*)arg;
  long i;
  optimist_thread_enter();
  for (i = 0; i < iterations; ++i) {
    sigjmp_buf* restart_point = optimist_tx_restart_point_();
    uint64_t x, y;
    optimist_tx_begin_();
    (void)sigsetjmp(*restart_point, 0);
    x = optimist_load_u64(&g_order_accounts[i & 3]);
    optimist_store_u64(&g_order_accounts[i & 3], x - 1);
    y = optimist_load_u64(&g_order_accounts[(i + 1) & 3]);
    optimist_store_u64(&g_order_accounts[(i + 1) & 3], y + 1);
    if (optimist_tx_commit() != OPTIMIST_OK) {
      __atomic_fetch_add(&g_order_failed_commits, 1, __ATOMIC_RELAXED);
    }
  }
  optimist_thread_exit();
  return NULL;
}

static void test_begin_before_sigsetjmp_under_contention(void) {
  pthread_t threads[order_threads];
  long iterations = 20000 * stress_scale();
  uint64_t sum = 0;
  int i;
  memset(g_order_accounts, 0, sizeof g_order_accounts);
  g_order_failed_commits = 0;
  for (i = 0; i < order_threads; ++i) start_thread(&threads[i], wrong_order_body, &iterations);
  for (i = 0; i < order_threads; ++i) pthread_join(threads[i], NULL);
  for (i = 0; i < order_words; ++i) sum += g_order_accounts[i];
  CHECK(sum == 0, "sum of the transfers is %lld, expected 0", (long long)sum);
  CHECK(g_order_failed_commits == 0, "%d commits failed", g_order_failed_commits);
}

/* ---- runner ---------------------------------------------------------------------- */

/* ---- an access the engine refuses --------------------------------------------------- */

static uint64_t g_refused_word;

/* A misaligned address: named on stderr, never a crash (the engine's
 * std::invalid_argument used to escape through the extern "C" function and
 * abort the process). Inside a transaction the transaction is rolled back (the
 * aligned store before it is not committed) and OPTIMIST_TX_BEGIN's status is
 * OPTIMIST_E_INVALID; outside one the load returns 0 and the store does nothing. */
static void test_misaligned_access_is_an_error_status(void) {
  static uint64_t buffer[4];
  uint64_t* misaligned = (uint64_t*)((char*)buffer + 3);
  struct captured_stderr capture;
  char* diagnostic;
  volatile int attempts = 0;
  int status;
  optimist_thread_enter();
  g_refused_word = 0;
  capture_stderr(&capture);
  OPTIMIST_TX_BEGIN(status);
  ++attempts;
  if (status == OPTIMIST_OK) {
    optimist_store_u64(&g_refused_word, 42);
    optimist_store_u64(misaligned, 7); /* does not return: back to OPTIMIST_TX_BEGIN */
    optimist_tx_commit();
  }
  CHECK(status == OPTIMIST_E_INVALID, "OPTIMIST_TX_BEGIN's status %d (%s)", status,
        optimist_status_text(status));
  CHECK(attempts == 2, "%d attempts: the refused store did not return to the restart point",
        attempts);
  CHECK(optimist_in_transaction() == 0, "still inside the rolled-back transaction");
  CHECK(g_refused_word == 0, "the rolled-back transaction's store reached memory: %llu",
        (unsigned long long)g_refused_word);
  CHECK(optimist_load_u64(misaligned) == 0, "a misaligned load outside a transaction");
  optimist_store_ptr((void**)misaligned, &status);
  CHECK(buffer[0] == 0 && buffer[1] == 0, "the refused store wrote memory");
  CHECK(optimist_tx_commit() == OPTIMIST_E_NO_TRANSACTION, "the transaction is over");
  diagnostic = release_stderr(&capture);
  CHECK(strstr(diagnostic, "optimist: optimist_store_u64: ") != NULL &&
            strstr(diagnostic, "optimist: optimist_load_u64: ") != NULL &&
            strstr(diagnostic, "optimist: optimist_store_ptr: ") != NULL &&
            strstr(diagnostic, "misaligned") != NULL,
        "stderr does not name the refused accesses:\n%s", diagnostic);
  free(diagnostic);
  optimist_thread_exit();
}

/* The last optimist_thread_exit inside a running transaction is refused (the
 * thread stays entered) and the transaction still commits. (It used to succeed;
 * the commit was then refused as "not entered" and the store was lost.) */
static void test_thread_exit_inside_a_transaction_is_refused(void) {
  int status;
  int exit_status;
  struct captured_stderr capture;
  char* diagnostic;
  optimist_thread_enter();
  g_refused_word = 0;
  capture_stderr(&capture);
  OPTIMIST_TX_BEGIN(status);
  CHECK(status == OPTIMIST_OK, "begin gave %d", status);
  optimist_store_u64(&g_refused_word, 5);
  exit_status = optimist_thread_exit();
  CHECK(optimist_tx_commit() == OPTIMIST_OK, "the commit after the refused exit");
  diagnostic = release_stderr(&capture);
  CHECK(exit_status == OPTIMIST_E_INVALID, "optimist_thread_exit inside a transaction gave %d",
        exit_status);
  CHECK(g_refused_word == 5, "the transaction's store was lost: %llu",
        (unsigned long long)g_refused_word);
  CHECK(strstr(diagnostic, "optimist_thread_exit called inside a transaction") != NULL,
        "stderr does not say why:\n%s", diagnostic);
  free(diagnostic);
  CHECK(optimist_thread_exit() == OPTIMIST_OK, "the exit after the commit");
}

/* A NULL address is refused as a misaligned one is. (A store to NULL was
 * buffered and faulted only in the commit's write-back, with part of the
 * write set written and orecs locked.) */
static void test_null_address_is_an_error_status(void) {
  struct captured_stderr capture;
  char* diagnostic;
  volatile int attempts = 0;
  int status;
  optimist_thread_enter();
  g_refused_word = 0;
  capture_stderr(&capture);
  OPTIMIST_TX_BEGIN(status);
  ++attempts;
  if (status == OPTIMIST_OK) {
    optimist_store_u64(&g_refused_word, 42);
    optimist_store_u64(NULL, 7); /* does not return: back to OPTIMIST_TX_BEGIN */
    optimist_tx_commit();
  }
  CHECK(status == OPTIMIST_E_INVALID, "OPTIMIST_TX_BEGIN's status %d (%s)", status,
        optimist_status_text(status));
  CHECK(attempts == 2, "%d attempts", attempts);
  CHECK(g_refused_word == 0, "the rolled-back transaction's store reached memory: %llu",
        (unsigned long long)g_refused_word);
  OPTIMIST_TX_BEGIN(status);
  if (status == OPTIMIST_OK) {
    CHECK(optimist_load_ptr(NULL) == NULL, "a NULL load");
    optimist_tx_commit(); /* not reached */
  }
  CHECK(status == OPTIMIST_E_INVALID, "the NULL load gave status %d", status);
  CHECK(optimist_load_u64(NULL) == 0, "a NULL load outside a transaction");
  optimist_store_ptr(NULL, &status); /* outside: named, nothing written */
  diagnostic = release_stderr(&capture);
  CHECK(strstr(diagnostic, "optimist: optimist_store_u64: a NULL address") != NULL &&
            strstr(diagnostic, "optimist: optimist_load_ptr: a NULL address") != NULL &&
            strstr(diagnostic, "optimist: optimist_store_ptr: a NULL address") != NULL,
        "stderr does not name the refused accesses:\n%s", diagnostic);
  free(diagnostic);
  optimist_thread_exit();
}

/* optimist_tx_begin_ (the TinySTM-order begin) on a thread that has not
 * entered is refused. It used to open a transaction that every later call
 * refused as "not entered": once the thread entered, its transactions nested
 * in that one, and their commits only closed a level (the stores were lost). */
static uint64_t g_unentered_word;

static void* unentered_body(void* arg) {
  int* begin_status = (int*)arg;
  int status;
  *begin_status = optimist_tx_begin_();
  optimist_thread_enter();
  OPTIMIST_TX_BEGIN(status);
  if (status == OPTIMIST_OK) {
    optimist_store_u64(&g_unentered_word, 9);
    optimist_tx_commit();
  }
  CHECK(optimist_in_transaction() == 0, "still inside a transaction after the commit");
  optimist_thread_exit();
  return NULL;
}

static void test_begin_on_a_thread_not_entered_is_refused(void) {
  pthread_t thread;
  int begin_status = 0;
  struct captured_stderr capture;
  char* diagnostic;
  g_unentered_word = 0;
  capture_stderr(&capture);
  start_thread(&thread, unentered_body, &begin_status);
  pthread_join(thread, NULL);
  diagnostic = release_stderr(&capture);
  CHECK(begin_status == OPTIMIST_E_NOT_ENTERED, "optimist_tx_begin_ gave %d", begin_status);
  CHECK(g_unentered_word == 9, "the later transaction's store was lost: %llu",
        (unsigned long long)g_unentered_word);
  CHECK(strstr(diagnostic, "has not called optimist_thread_enter") != NULL,
        "stderr does not say why:\n%s", diagnostic);
  free(diagnostic);
}

struct test_case {
  const char* name;
  void (*run)(void);
};

int main(void) {
  static const struct test_case tests[] = {
      /* first: no other thread has a descriptor yet */
      {"thread_ending_inside_a_transaction", test_thread_ending_inside_a_transaction},
      {"thread_ending_inside_a_nested_transaction", test_thread_ending_inside_a_nested_transaction},
      {"begin_before_sigsetjmp_restarts_inside_a_transaction",
       test_begin_before_sigsetjmp_restarts_inside_a_transaction},
      {"begin_before_sigsetjmp_under_contention", test_begin_before_sigsetjmp_under_contention},
      {"restart_point_taken_after_the_begin", test_restart_point_taken_after_the_begin},
      {"nested_begin_after_a_restart_keeps_the_outer_restart_point",
       test_nested_begin_after_a_restart_keeps_the_outer_restart_point},
      {"an_uncollected_error_ends_with_the_next_begin",
       test_an_uncollected_error_ends_with_the_next_begin},
      {"misaligned_access_is_an_error_status", test_misaligned_access_is_an_error_status},
      {"thread_exit_inside_a_transaction_is_refused",
       test_thread_exit_inside_a_transaction_is_refused},
      {"null_address_is_an_error_status", test_null_address_is_an_error_status},
      {"begin_on_a_thread_not_entered_is_refused", test_begin_on_a_thread_not_entered_is_refused},
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
  printf("capi_misuse: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
