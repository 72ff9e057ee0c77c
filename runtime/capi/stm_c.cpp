// The C API (include/optimist/stm.h) over the same engine as the C++ API.
//
// The difference is how an attempt is abandoned: C has no exceptions, so a
// C transaction records its restart point (a sigjmp_buf filled by sigsetjmp in
// the caller's frame) in the descriptor, and transaction::restart() rolls the
// attempt back and siglongjmps there instead of throwing. No frame between
// the caller and restart() owns anything that needs destroying.
//
// Nested C transactions are flattened: they count depth and save their
// (unused) restart point to a scratch buffer, so the outermost one stays the
// target.
//
// Sites: the header's macros pass the caller's __FILE__/__LINE__/__func__ to
// the *_at functions, so reports name the C lines. An access site is made
// only while reporting (it is only read by the recorder); the block's raw
// fields are kept for messages. The plain functions (the stable ABI) name an
// unknown caller.
//
// The order of begin and restart point. OPTIMIST_TX_BEGIN arms the restart
// point with sigsetjmp and then calls optimist_tx_begin_at_; after a restart
// the jump lands before the begin, which starts the next attempt. Ports of
// TinySTM-style code call begin first and sigsetjmp after it, so the jump
// lands after the begin. INVARIANT (resume-after-jump): between the outermost
// begin and the commit (or failure) that ends its transaction,
// c_attempt_open is set; a C call that finds it set with no attempt running
// (depth 0) comes after a jump that skipped the begin, and starts the attempt
// itself (resume_after_jump) — so the body never runs outside a transaction.
#define OPTIMIST_NO_SITE_MACROS 1
#include "optimist/stm.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "capi/c_site.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/recorder.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

using optimist::source_location;
using optimist::detail::tls_current;
using optimist::detail::transaction;

namespace {

// The descriptor of a thread that has entered, or nullptr after reporting.
transaction* entered(const char* function) {
  transaction* tx = nullptr;
  try {
    tx = &optimist::detail::this_thread_transaction();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "optimist: %s: out of memory registering the thread\n", function);
    return nullptr;
  }
  if (tx->c_entered > 0) return tx;
  std::fprintf(stderr,
               "optimist: %s called on a thread that has not called optimist_thread_enter()\n",
               function);
  return nullptr;
}

// The running transaction is a C++ block's (its outermost level has no C
// restart point): C code runs inside it.
inline bool inside_cxx_block() noexcept {
  const transaction* tx = tls_current;
  return tx != nullptr && tx->depth > 0 && tx->c_restart_point == nullptr;
}

// A C transaction is running: an outermost C one, or a C level inside a C++ block.
bool c_transaction_running(const transaction& tx) noexcept {
  if (tx.depth == 0) return false;
  if (tx.c_restart_point != nullptr) return true;
  for (const auto& level : tx.nesting) {
    if (level.from_c || level.c_restart_point != nullptr) return true;  // (cxx-inside-c)
  }
  return false;
}

// No C++ exception may cross into C frames. Out of memory (or an access the
// engine refuses, named on stderr) inside a C transaction rolls it back and
// jumps to its restart point, where OPTIMIST_TX_BEGIN reports
// OPTIMIST_E_NO_MEMORY (OPTIMIST_E_INVALID); outside one it is reported and
// `fallback` returned.
//
// Except inside a C++ block (a C level, or C code called from the block with
// no C transaction of its own): there C++ frames surround the C ones, and the
// exception goes on to the block, which rolls back all of it (INVARIANT
// c-levels-unwound), as a restart_signal crosses these same frames. Swallowed
// there, the access would be dropped and the block would commit without it.
template <class F, class R>
R guarded(const char* function, R fallback, F&& body) {
  int error = OPTIMIST_OK;
  try {
    return body();
  } catch (const std::bad_alloc&) {
    if (inside_cxx_block()) throw;
    error = OPTIMIST_E_NO_MEMORY;
  } catch (const std::exception& e) {
    if (inside_cxx_block()) throw;
    // The engine refused the access (a misaligned address): std::invalid_argument.
    const char* what = e.what();
    if (std::strncmp(what, "optimist: ", 10) == 0) what += 10;
    std::fprintf(stderr, "optimist: %s: %s\n", function, what);
    error = OPTIMIST_E_INVALID;
  }
  transaction* tx = tls_current;
  if (tx != nullptr && tx->c_restart_point != nullptr) {
    sigjmp_buf* target = tx->c_restart_point;
    tx->c_pending_error = error;
    tx->counters.count_abort(optimist::abort_cause::user_exception);
    tx->consecutive_aborts = 0;
    tx->discard_attempt();
    siglongjmp(*target, 1);
  }
  if (error == OPTIMIST_E_NO_MEMORY)
    std::fprintf(stderr, "optimist: %s: out of memory\n", function);
  return fallback;
}

// A NULL address is refused as a misaligned one is (OPTIMIST_E_INVALID): a
// buffered store to it would otherwise fault only in the commit's write-back,
// with part of the write set written and orecs locked.
void refuse_null(const void* address) {
  if (address == nullptr) throw std::invalid_argument("optimist: a NULL address");
}

// What the plain (site-less) functions report as their caller.
constexpr const char* unknown_c_file = "(C caller; built without optimist/stm.h site macros)";

// An access's site: needed only by the recorder.
source_location access_site(const char* file, int line, const char* function) noexcept {
  return optimist::detail::reporting_on() ? optimist::detail::c_site(file, line, function)
                                          : source_location{};
}

// INVARIANT resume-after-jump: a restart jumped back past optimist_tx_begin_
// (the TinySTM order). Starts the attempt the begin would have started, or,
// if the jump carried an error, reports it and returns false (the caller
// then does nothing: no access may run outside the failed transaction).
bool resume_after_jump(transaction& tx, const char* function) {
  tx.c_point_given = false;  // INVARIANT c-point-order: the jump landed past any begin
  if (tx.c_pending_error != 0) {
    std::fprintf(stderr,
                 "optimist: %s: ignored: the transaction was rolled back (%s); "
                 "optimist_tx_begin_ ran before sigsetjmp, so it could not say so "
                 "(optimist_tx_commit will)\n",
                 function, optimist_status_text(tx.c_pending_error));
    return false;
  }
  try {
    tx.start(tx.block_site);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "optimist: %s: out of memory starting the transaction\n", function);
    tx.c_pending_error = OPTIMIST_E_NO_MEMORY;
    return false;
  }
  tx.c_restart_point = &tx.c_jump_buffer;
  return true;
}

// entered(), then the resume-after-jump check; nullptr if the call must do nothing.
inline transaction* in_c_api(const char* function) {
  transaction* tx = entered(function);
  if (tx == nullptr || !tx->c_attempt_open || tx->depth != 0) [[likely]]
    return tx;
  return resume_after_jump(*tx, function) ? tx : nullptr;
}

}  // namespace

extern "C" {

const char* optimist_status_text(int status) {
  switch (status) {
    case OPTIMIST_OK:
      return "ok";
    case OPTIMIST_E_NOT_ENTERED:
      return "thread not entered (call optimist_thread_enter first)";
    case OPTIMIST_E_NO_TRANSACTION:
      return "no transaction is running";
    case OPTIMIST_E_NO_MEMORY:
      return "out of memory; the transaction was rolled back";
    case OPTIMIST_E_RETRY_REFUSED:
      return "retry refused: the transaction has read nothing, or is inevitable";
    case OPTIMIST_E_INVALID:
      return "invalid argument (see the message on stderr); the transaction was rolled back";
    default:
      return "unknown status";
  }
}

int optimist_thread_enter(void) {
  try {
    ++optimist::detail::this_thread_transaction().c_entered;
  } catch (const std::bad_alloc&) {  // no C++ exception may cross into C frames
    std::fprintf(stderr, "optimist: optimist_thread_enter: out of memory registering the thread\n");
    return OPTIMIST_E_NO_MEMORY;
  }
  return OPTIMIST_OK;
}

int optimist_thread_exit(void) {
  transaction* tx = entered("optimist_thread_exit");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->c_entered == 1 && c_transaction_running(*tx)) {
    // The last exit would leave the running transaction unable to commit
    // (every later call is refused as "not entered") and lose its writes.
    std::fprintf(stderr,
                 "optimist: optimist_thread_exit called inside a transaction; the thread stays "
                 "entered: commit the transaction first\n");
    return OPTIMIST_E_INVALID;
  }
  --tx->c_entered;
  return OPTIMIST_OK;
}

sigjmp_buf* optimist_tx_restart_point_(void) {
  // In the TinySTM order a nested begin after a jump comes here first: the
  // outer attempt starts, and this level nests in it.
  transaction* tx = entered("OPTIMIST_TX_BEGIN");
  if (tx == nullptr) return nullptr;
  if (tx->c_attempt_open && tx->depth == 0 && tx->c_pending_error != 0) {
    // A TinySTM-order attempt failed (its jump carried an error) and nobody
    // collected the error: the begin that follows reports it and ends that
    // transaction. Refusing here (as resume_after_jump does) refused every
    // later transaction of the thread, since only a begin clears the error.
    tx->c_point_given = true;  // INVARIANT c-point-order
    return &tx->c_jump_buffer;
  }
  tx = in_c_api("OPTIMIST_TX_BEGIN");
  if (tx == nullptr) return nullptr;
  // INVARIANT c-point-order (transaction.hpp).
  if (tx->depth == 0) {
    tx->c_point_given = true;
    return &tx->c_jump_buffer;
  }
  if (tx->c_point_owed) {
    tx->c_point_owed = false;
    return &tx->c_jump_buffer;
  }
  return &tx->c_nested_buffer;
}

int optimist_tx_begin_at_(const char* file, int line, const char* function) {
  // A thread that never entered gets no transaction: every later access and
  // the commit would be refused, leaving it open for good (its snapshot
  // holding back reclamation, later C++ blocks nesting into it and lost).
  transaction* entered_tx = entered("OPTIMIST_TX_BEGIN");
  if (entered_tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  transaction& tx = *entered_tx;
  if (tx.c_pending_error != 0) {
    int error = tx.c_pending_error;  // the attempt before the jump failed for good
    tx.c_pending_error = 0;
    tx.c_attempt_open = false;
    tx.c_point_given = false;  // INVARIANT c-point-order: the transaction is over
    tx.c_point_owed = false;
    return error;
  }
  if (tx.depth > 0) {
    // A hardware attempt of a C++ block runs the C level in software instead
    // (its C++ exception and end-of-block handling are the software path's).
    if (tx.mode == optimist::detail::tx_mode::hardware)
      optimist::detail::hardware_abort_for_exception();
    // Flattened: the restart point stays the outermost one's. Still a nesting
    // level of its own (INVARIANT nesting-marks), marked as C's: inside a C++
    // block, a C++ exception or restart may unwind it (INVARIANT
    // c-levels-unwound, atomic_block.cpp).
    try {
      tx.open_nested(/*from_c=*/true);
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "optimist: OPTIMIST_TX_BEGIN: out of memory opening a nested level\n");
      return OPTIMIST_E_NO_MEMORY;
    }
    return OPTIMIST_OK;
  }
  // INVARIANT c-point-order: no restart point taken for this attempt yet:
  // the TinySTM order, whose next restart point is the outermost one's.
  tx.c_point_owed = !tx.c_point_given;
  tx.c_point_given = false;
  tx.c_block_file = file;
  tx.c_block_line = line;
  tx.c_block_function = function;
  tx.start(access_site(file, line, function));
  tx.c_restart_point = &tx.c_jump_buffer;
  tx.c_attempt_open = true;
  return OPTIMIST_OK;
}

int optimist_tx_begin_(void) {
  return optimist_tx_begin_at_(unknown_c_file, 0, "optimist_tx_begin_");
}

int optimist_tx_commit(void) {
  transaction* tx = entered("optimist_tx_commit");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->c_attempt_open && tx->depth == 0) {
    if (tx->c_pending_error != 0) {  // a failure the skipped begin could not report
      int error = tx->c_pending_error;
      tx->c_pending_error = 0;
      tx->c_attempt_open = false;
      tx->c_point_given = false;  // INVARIANT c-point-order: the transaction is over
      tx->c_point_owed = false;
      return error;
    }
    if (!resume_after_jump(*tx, "optimist_tx_commit")) return OPTIMIST_E_NO_MEMORY;
  }
  if (tx->depth == 0 || tls_current != tx) {
    std::fprintf(stderr, "optimist: optimist_tx_commit called outside a transaction\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  if (tx->depth > 1) {
    if (tx->nesting.empty() || !tx->nesting.back().from_c) {
      std::fprintf(stderr,
                   "optimist: optimist_tx_commit called inside a C++ atomic block that did not "
                   "end yet; commit the C transaction before the C++ block inside it returns\n");
      return OPTIMIST_E_NO_TRANSACTION;
    }
    tx->commit_nested();
    return OPTIMIST_OK;
  }
  if (tx->c_restart_point == nullptr) {
    // The outermost level is a C++ block's: one commit more than C began.
    // Committing it here would end the block in the middle of its body.
    std::fprintf(stderr,
                 "optimist: optimist_tx_commit called inside a C++ atomic block with no C "
                 "transaction open (one commit more than OPTIMIST_TX_BEGIN); ignored\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  try {
    tx->commit();  // a failed commit restarts through siglongjmp
  } catch (const std::bad_alloc&) {
    tx->counters.count_abort(optimist::abort_cause::user_exception);
    tx->consecutive_aborts = 0;
    tx->discard_attempt();
    tx->c_attempt_open = false;
    tx->c_point_given = false;  // INVARIANT c-point-order: the transaction is over
    tx->c_point_owed = false;
    return OPTIMIST_E_NO_MEMORY;
  }
  tx->c_attempt_open = false;
  tx->c_point_given = false;  // INVARIANT c-point-order: the transaction is over
  tx->c_point_owed = false;
  return OPTIMIST_OK;
}

int optimist_tx_restart(void) {
  transaction* tx = in_c_api("optimist_tx_restart");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->depth == 0 || tls_current != tx) {
    std::fprintf(stderr, "optimist: optimist_tx_restart called outside a transaction\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  // Inside a C++ block (a C level in it, or C code it calls) the block owns
  // the restart: restart() throws restart_signal through these C frames, as a
  // refused access's exception goes on to the block (guarded()). Returning
  // instead would let the body go on and commit what it meant to discard.
  if (tx->mode == optimist::detail::tx_mode::hardware)
    optimist::detail::hardware_abort_for_exception();  // runs again in software
  tx->restart(optimist::abort_cause::explicit_restart);
}

int optimist_tx_retry(void) {
  return optimist_tx_retry_at(unknown_c_file, 0, "optimist_tx_retry");
}

int optimist_tx_retry_at(const char* file, int line, const char* function) {
  transaction* tx = in_c_api("optimist_tx_retry");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->depth == 0 || tls_current != tx) {
    std::fprintf(stderr, "optimist: optimist_tx_retry called outside a transaction\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  if (tx->mode == optimist::detail::tx_mode::hardware)
    optimist::detail::hardware_abort_for_exception();  // waits in software
  // A lost attempt inside a C++ block restarts; it must not wait on what it
  // read (INVARIANT retry-is-consistent).
  if (tx->doomed) tx->restart_lost();
  optimist::detail::retry_refusal refusal =
      guarded("optimist_tx_retry", optimist::detail::retry_refusal::none,
              [&] { return tx->prepare_retry(optimist::detail::c_site(file, line, function)); });
  if (refusal != optimist::detail::retry_refusal::none) {
    std::fprintf(stderr, "optimist: optimist_tx_retry: %s\n",
                 refusal == optimist::detail::retry_refusal::inevitable
                     ? "the transaction is inevitable and cannot be rolled back"
                     : "the transaction has read nothing, so no commit could ever wake it");
    return OPTIMIST_E_RETRY_REFUSED;
  }
  // No unwinding in C: roll back and wait here, then jump to the restart point.
  sigjmp_buf* target = tx->c_restart_point;
  if (target == nullptr)
    throw optimist::detail::retry_signal{};  // the C++ block waits (as restart)
  tx->finish_retry();
  siglongjmp(*target, 1);
}

int optimist_tx_retry_until(uint64_t deadline_ns) {
  return optimist_tx_retry_until_at(deadline_ns, unknown_c_file, 0, "optimist_tx_retry_until");
}

int optimist_tx_retry_until_at(uint64_t deadline_ns, const char* file, int line,
                               const char* function) {
  transaction* tx = in_c_api("optimist_tx_retry_until");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->depth == 0 || tls_current != tx) {
    std::fprintf(stderr, "optimist: optimist_tx_retry_until called outside a transaction\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  if (optimist::detail::steady_now_ns() >= deadline_ns) return OPTIMIST_OK;  // timed out: go on
  // As optimist::retry_until (runtime/stm/retry.cpp).
  if (tx->doomed) tx->restart_lost();
  optimist::detail::retry_refusal refusal =
      guarded("optimist_tx_retry_until", optimist::detail::retry_refusal::none, [&] {
        return tx->prepare_retry(optimist::detail::c_site(file, line, function), deadline_ns);
      });
  if (refusal != optimist::detail::retry_refusal::none) {
    std::fprintf(stderr,
                 "optimist: optimist_tx_retry_until: the transaction is inevitable and cannot "
                 "be rolled back\n");
    return OPTIMIST_E_RETRY_REFUSED;
  }
  sigjmp_buf* target = tx->c_restart_point;
  if (target == nullptr)
    throw optimist::detail::retry_signal{};  // the C++ block waits (as restart)
  tx->finish_retry();                        // waits for a change or the deadline
  siglongjmp(*target, 1);
}

uint64_t optimist_now_ns(void) {
  return optimist::detail::steady_now_ns();
}

int optimist_in_transaction(void) {
  if (tls_current != nullptr) return 1;
  transaction* tx = nullptr;
  try {
    tx = &optimist::detail::this_thread_transaction();
  } catch (const std::bad_alloc&) {
    return 0;
  }
  // After a jump past a TinySTM-order begin the body is inside its transaction.
  if (tx->c_entered == 0 || !tx->c_attempt_open || tx->depth != 0) return 0;
  return resume_after_jump(*tx, "optimist_in_transaction") ? 1 : 0;
}

uint64_t optimist_load_u64_at(const uint64_t* address, const char* file, int line,
                              const char* function) {
  if (in_c_api("optimist_load_u64") == nullptr) return 0;
  return guarded("optimist_load_u64", uint64_t{0}, [&] {
    refuse_null(address);
    return optimist::detail::read_word(address, access_site(file, line, function));
  });
}

void optimist_store_u64_at(uint64_t* address, uint64_t value, const char* file, int line,
                           const char* function) {
  if (in_c_api("optimist_store_u64") == nullptr) return;
  guarded("optimist_store_u64", 0, [&] {
    refuse_null(address);
    optimist::detail::write_word(address, value, access_site(file, line, function));
    return 0;
  });
}

void* optimist_load_ptr_at(void* const* address, const char* file, int line, const char* function) {
  static_assert(sizeof(void*) == sizeof(uint64_t), "the C API assumes 64-bit pointers");
  if (in_c_api("optimist_load_ptr") == nullptr) return nullptr;
  return guarded("optimist_load_ptr", static_cast<void*>(nullptr), [&] {
    refuse_null(address);
    return reinterpret_cast<void*>(
        optimist::detail::read_word(address, access_site(file, line, function)));
  });
}

void optimist_store_ptr_at(void** address, void* value, const char* file, int line,
                           const char* function) {
  if (in_c_api("optimist_store_ptr") == nullptr) return;
  guarded("optimist_store_ptr", 0, [&] {
    refuse_null(address);
    optimist::detail::write_word(address, reinterpret_cast<uint64_t>(value),
                                 access_site(file, line, function));
    return 0;
  });
}

uint64_t optimist_load_u64(const uint64_t* address) {
  return optimist_load_u64_at(address, unknown_c_file, 0, "optimist_load_u64");
}

void optimist_store_u64(uint64_t* address, uint64_t value) {
  optimist_store_u64_at(address, value, unknown_c_file, 0, "optimist_store_u64");
}

void* optimist_load_ptr(void* const* address) {
  return optimist_load_ptr_at(address, unknown_c_file, 0, "optimist_load_ptr");
}

void optimist_store_ptr(void** address, void* value) {
  optimist_store_ptr_at(address, value, unknown_c_file, 0, "optimist_store_ptr");
}

void* optimist_tx_malloc(size_t size) {
  if (in_c_api("optimist_tx_malloc") == nullptr) return nullptr;
  void* p = std::malloc(size);
  if (p == nullptr) return nullptr;
  try {
    optimist::detail::log_allocation(p, &std::free);
  } catch (const std::bad_alloc&) {
    std::free(p);
    return nullptr;
  }
  return p;
}

void optimist_tx_free_at(void* pointer, const char* file, int line, const char* function) {
  if (in_c_api("optimist_tx_free") == nullptr || pointer == nullptr) return;
  guarded("optimist_tx_free", 0, [&] {
    try {
      // (The block's size lets reclamation scan sooner for large blocks.)
      optimist::detail::log_deletion(pointer, &std::free,
                                     optimist::detail::c_site(file, line, function),
                                     malloc_usable_size(pointer));
    } catch (const std::logic_error& e) {
      std::fprintf(stderr, "optimist: optimist_tx_free: %s\n", e.what());
    }
    return 0;
  });
}

void optimist_tx_free(void* pointer) {
  optimist_tx_free_at(pointer, unknown_c_file, 0, "optimist_tx_free");
}

}  // extern "C"
