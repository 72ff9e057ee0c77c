/* optimist/stm.h — the C API of optimist's STM, for existing C code (C99).
 *
 * Each thread that uses transactions calls optimist_thread_enter() once (it may
 * enter and exit many times). A transaction starts with OPTIMIST_TX_BEGIN,
 * which places its restart point in the caller's frame: when a conflict is
 * detected, the attempt is rolled back and execution jumps back there. Shared
 * words are read and written with optimist_load_* / optimist_store_*; the
 * transaction ends with optimist_tx_commit().
 *
 *   #include <optimist/stm.h>
 *
 *   static uint64_t from = 100, to = 0;
 *
 *   void transfer(uint64_t amount) {
 *     int status;
 *     OPTIMIST_TX_BEGIN(status);
 *     if (status != OPTIMIST_OK) return;     // thread not entered
 *     uint64_t f = optimist_load_u64(&from);
 *     optimist_store_u64(&from, f - amount);
 *     optimist_store_u64(&to, optimist_load_u64(&to) + amount);
 *     optimist_tx_commit();                  // on conflict: back to OPTIMIST_TX_BEGIN
 *   }
 *
 *   int main(void) {
 *     optimist_thread_enter();
 *     transfer(10);
 *     optimist_thread_exit();
 *   }
 *
 * Rules of the restart point (they are sigsetjmp's): local variables of the
 * function containing OPTIMIST_TX_BEGIN that change inside the transaction must
 * be `volatile` if they are read after a restart; the function must not return
 * before the transaction ends. Transactions may nest (the inner ones are
 * flattened into the outermost). A C transaction begun inside a C++ atomic
 * block (a C library called from one) is flattened into the block: a C++
 * exception or restart that unwinds it rolls back the whole block, and one
 * still open when the block ends commits with it (named on stderr). There,
 * optimist_tx_restart() and optimist_tx_retry() act on the whole block (as
 * optimist::retry() would): they leave the C frames as a C++ exception does,
 * so C code called from C++ blocks must be built with unwind tables (GCC and
 * Clang on x86-64 emit them by default). A C++
 * block inside a C transaction nests in it; the C transaction must not be
 * committed from inside that block. A conflict or optimist::retry() inside
 * that block unwinds its C++ frames and runs the C transaction again from
 * OPTIMIST_TX_BEGIN (C++ frames between the block and the C code are jumped
 * over: hold nothing there that needs a destructor); a C++ exception that
 * leaves it rolls back the block and goes on to the C++ code around it, which
 * must catch it before returning to C.
 *
 * The restart point is POSIX's sigsetjmp: with a strict -std=c99 compile, also
 * define _POSIX_C_SOURCE=200809L (the GNU dialects, -std=gnu99, need nothing).
 *
 * Misuse is reported, never a crash: a call on a thread that has not entered,
 * or a commit without a transaction, prints a message on stderr naming the
 * function and returns an error status (loads return 0). An access the engine
 * refuses (a NULL address, or one not aligned to its type) is named on stderr too; inside a
 * transaction it rolls the transaction back, and OPTIMIST_TX_BEGIN's status
 * becomes OPTIMIST_E_INVALID (as out of memory gives OPTIMIST_E_NO_MEMORY). A thread that ends
 * inside a transaction has it rolled back (nothing of it is committed) and a
 * message on stderr names its OPTIMIST_TX_BEGIN.
 *
 * Conflict reports (OPTIMIST_REPORT, see README) name the caller's lines: the
 * access and block functions below are macros that pass __FILE__, __LINE__
 * and __func__ to their *_at forms. The plain functions stay exported (for
 * function pointers, and programs built against an older header); their
 * accesses are reported as an unknown C caller. Define
 * OPTIMIST_NO_SITE_MACROS before including this header to call the plain
 * functions directly.
 *
 * Ports of TinySTM-style code that call optimist_tx_begin_() before sigsetjmp
 * (instead of using OPTIMIST_TX_BEGIN) also work: after a restart jumps back,
 * the next optimist C call starts the new attempt. Make that call before any
 * C++ atomic block: a block that comes first runs as a transaction of its own.
 */
#ifndef OPTIMIST_STM_H
#define OPTIMIST_STM_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum optimist_status {
  OPTIMIST_OK = 0,
  OPTIMIST_E_NOT_ENTERED = -1,    /* the thread has not called optimist_thread_enter() */
  OPTIMIST_E_NO_TRANSACTION = -2, /* commit or restart outside a transaction */
  OPTIMIST_E_NO_MEMORY = -3,      /* the commit could not allocate; rolled back */
  OPTIMIST_E_RETRY_REFUSED = -4,  /* retry with nothing read, or in an inevitable transaction */
  OPTIMIST_E_INVALID = -5         /* an invalid argument (a misaligned address, ...), named on
                                   * stderr; the transaction was rolled back */
};

/* A short description of a status, e.g. "thread not entered". */
const char* optimist_status_text(int status);

/* Registers the calling thread; repeatable (counted). Returns OPTIMIST_OK. */
int optimist_thread_enter(void);
/* Undoes one optimist_thread_enter(). Returns OPTIMIST_E_NOT_ENTERED if unmatched, and
 * OPTIMIST_E_INVALID (the thread stays entered) if it is the last one and a transaction is
 * running: commit it first. */
int optimist_thread_exit(void);

/* Starts a transaction, or a nested one. `status` (an int lvalue) receives
 * OPTIMIST_OK or OPTIMIST_E_NOT_ENTERED. */
#define OPTIMIST_TX_BEGIN(status)                                       \
  do {                                                                  \
    sigjmp_buf* optimist_restart_point_ = optimist_tx_restart_point_(); \
    if (optimist_restart_point_ == NULL) {                              \
      (status) = OPTIMIST_E_NOT_ENTERED;                                \
      break;                                                            \
    }                                                                   \
    (void)sigsetjmp(*optimist_restart_point_, 0);                       \
    (status) = optimist_tx_begin_at_(__FILE__, __LINE__, __func__);     \
  } while (0)

/* Commits. Returns OPTIMIST_OK, or does not return at all when the transaction
 * must run again (execution resumes at OPTIMIST_TX_BEGIN). Inside a nested
 * transaction it only closes the nesting level. */
int optimist_tx_commit(void);
/* Rolls the transaction back and restarts it at OPTIMIST_TX_BEGIN. Returns
 * (an error status) only when there is no transaction. */
int optimist_tx_restart(void);
/* Rolls the transaction back and sleeps until another transaction commits a
 * change to a word it read, then runs it again from OPTIMIST_TX_BEGIN (the C
 * form of optimist::retry()). Returns (an error status, the transaction still
 * running) only when there is no transaction, or OPTIMIST_E_RETRY_REFUSED when
 * it has read nothing (no commit could wake it) or is inevitable. */
int optimist_tx_retry(void);
/* optimist_tx_retry() with a time limit (the C form of optimist::retry_until):
 * before `deadline_ns` (optimist_now_ns()'s clock) it rolls back and sleeps
 * until a commit changes a word the transaction read or the deadline passes,
 * then runs it again from OPTIMIST_TX_BEGIN; it does not return. From the
 * deadline on it returns OPTIMIST_OK and the transaction goes on (the timed-out
 * case). Errors as optimist_tx_retry(), except that a transaction that has
 * read nothing may wait (it sleeps until the deadline). */
int optimist_tx_retry_until(uint64_t deadline_ns);
/* Now, in nanoseconds of the monotonic clock deadlines are measured on
 * (std::chrono::steady_clock): optimist_now_ns() + 100000000 is 100 ms ahead. */
uint64_t optimist_now_ns(void);
/* 1 inside a transaction, 0 outside. */
int optimist_in_transaction(void);

/* Word-sized transactional access; outside a transaction each is a
 * transaction of its own. Addresses must be aligned to the type. */
uint64_t optimist_load_u64(const uint64_t* address);
void optimist_store_u64(uint64_t* address, uint64_t value);
void* optimist_load_ptr(void* const* address);
void optimist_store_ptr(void** address, void* value);

/* Memory freed if the transaction aborts / freed only after it commits and no
 * transaction can still read it. */
void* optimist_tx_malloc(size_t size);
void optimist_tx_free(void* pointer);

/* Implementation details of OPTIMIST_TX_BEGIN. */
sigjmp_buf* optimist_tx_restart_point_(void);
int optimist_tx_begin_(void);

/* The forms that name the caller's site (file, line, function) in reports;
 * the macros below call them. `file` and `function` must live as long as the
 * program (string literals do); a null `file` means unknown. */
int optimist_tx_begin_at_(const char* file, int line, const char* function);
int optimist_tx_retry_at(const char* file, int line, const char* function);
int optimist_tx_retry_until_at(uint64_t deadline_ns, const char* file, int line,
                               const char* function);
uint64_t optimist_load_u64_at(const uint64_t* address, const char* file, int line,
                              const char* function);
void optimist_store_u64_at(uint64_t* address, uint64_t value, const char* file, int line,
                           const char* function);
void* optimist_load_ptr_at(void* const* address, const char* file, int line, const char* function);
void optimist_store_ptr_at(void** address, void* value, const char* file, int line,
                           const char* function);
void optimist_tx_free_at(void* pointer, const char* file, int line, const char* function);

#ifndef OPTIMIST_NO_SITE_MACROS
#define optimist_tx_retry() optimist_tx_retry_at(__FILE__, __LINE__, __func__)
#define optimist_tx_retry_until(deadline_ns) \
  optimist_tx_retry_until_at((deadline_ns), __FILE__, __LINE__, __func__)
#define optimist_load_u64(address) optimist_load_u64_at((address), __FILE__, __LINE__, __func__)
#define optimist_store_u64(address, value) \
  optimist_store_u64_at((address), (value), __FILE__, __LINE__, __func__)
#define optimist_load_ptr(address) optimist_load_ptr_at((address), __FILE__, __LINE__, __func__)
#define optimist_store_ptr(address, value) \
  optimist_store_ptr_at((address), (value), __FILE__, __LINE__, __func__)
#define optimist_tx_free(pointer) optimist_tx_free_at((pointer), __FILE__, __LINE__, __func__)
#endif

#ifdef __cplusplus
}
#endif

#endif /* OPTIMIST_STM_H */
