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
#include "optimist/stm.h"

#include <cstdio>
#include <cstdlib>
#include <new>

#include "optimist/detail/engine.hpp"
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

// No C++ exception may cross into C frames. Out of memory inside a C
// transaction rolls it back and jumps to its restart point, where
// OPTIMIST_TX_BEGIN reports OPTIMIST_E_NO_MEMORY; outside one it is reported
// and `fallback` returned.
template <class F, class R>
R guarded(const char* function, R fallback, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    transaction* tx = tls_current;
    if (tx != nullptr && tx->c_restart_point != nullptr) {
      sigjmp_buf* target = tx->c_restart_point;
      tx->c_pending_error = OPTIMIST_E_NO_MEMORY;
      tx->counters.count_abort(optimist::abort_cause::user_exception);
      tx->consecutive_aborts = 0;
      tx->discard_attempt();
      siglongjmp(*target, 1);
    }
    std::fprintf(stderr, "optimist: %s: out of memory\n", function);
    return fallback;
  }
}

// The C API cannot see its caller's line: conflict reports name the API
// function (source_location::current() inside it) instead.

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
    default:
      return "unknown status";
  }
}

int optimist_thread_enter(void) {
  ++optimist::detail::this_thread_transaction().c_entered;
  return OPTIMIST_OK;
}

int optimist_thread_exit(void) {
  transaction* tx = entered("optimist_thread_exit");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  --tx->c_entered;
  return OPTIMIST_OK;
}

sigjmp_buf* optimist_tx_restart_point_(void) {
  transaction* tx = entered("OPTIMIST_TX_BEGIN");
  if (tx == nullptr) return nullptr;
  return tx->depth > 0 ? &tx->c_nested_buffer : &tx->c_jump_buffer;
}

int optimist_tx_begin_(void) {
  transaction& tx = optimist::detail::this_thread_transaction();
  if (tx.c_pending_error != 0) {
    int error = tx.c_pending_error;  // the attempt before the jump failed for good
    tx.c_pending_error = 0;
    return error;
  }
  if (tx.depth > 0) {
    ++tx.depth;  // flattened
    return OPTIMIST_OK;
  }
  tx.start(source_location::current());
  tx.c_restart_point = &tx.c_jump_buffer;
  return OPTIMIST_OK;
}

int optimist_tx_commit(void) {
  transaction* tx = entered("optimist_tx_commit");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->depth == 0 || tls_current != tx) {
    std::fprintf(stderr, "optimist: optimist_tx_commit called outside a transaction\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  if (tx->depth > 1) {
    --tx->depth;
    return OPTIMIST_OK;
  }
  try {
    tx->commit();  // a failed commit restarts through siglongjmp
  } catch (const std::bad_alloc&) {
    tx->counters.count_abort(optimist::abort_cause::user_exception);
    tx->consecutive_aborts = 0;
    tx->discard_attempt();
    return OPTIMIST_E_NO_MEMORY;
  }
  return OPTIMIST_OK;
}

int optimist_tx_restart(void) {
  transaction* tx = entered("optimist_tx_restart");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->depth == 0 || tx->c_restart_point == nullptr) {
    std::fprintf(stderr, "optimist: optimist_tx_restart called outside a C transaction\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  tx->restart(optimist::abort_cause::explicit_restart);
}

int optimist_tx_retry(void) {
  transaction* tx = entered("optimist_tx_retry");
  if (tx == nullptr) return OPTIMIST_E_NOT_ENTERED;
  if (tx->depth == 0 || tx->c_restart_point == nullptr) {
    std::fprintf(stderr, "optimist: optimist_tx_retry called outside a C transaction\n");
    return OPTIMIST_E_NO_TRANSACTION;
  }
  optimist::detail::retry_refusal refusal =
      guarded("optimist_tx_retry", optimist::detail::retry_refusal::none,
              [&] { return tx->prepare_retry(source_location::current()); });
  if (refusal != optimist::detail::retry_refusal::none) {
    std::fprintf(stderr, "optimist: optimist_tx_retry: %s\n",
                 refusal == optimist::detail::retry_refusal::inevitable
                     ? "the transaction is inevitable and cannot be rolled back"
                     : "the transaction has read nothing, so no commit could ever wake it");
    return OPTIMIST_E_RETRY_REFUSED;
  }
  // No unwinding in C: roll back and wait here, then jump to the restart point.
  sigjmp_buf* target = tx->c_restart_point;
  tx->finish_retry();
  siglongjmp(*target, 1);
}

int optimist_in_transaction(void) {
  return tls_current != nullptr ? 1 : 0;
}

uint64_t optimist_load_u64(const uint64_t* address) {
  if (entered("optimist_load_u64") == nullptr) return 0;
  return guarded("optimist_load_u64", uint64_t{0},
                 [&] { return optimist::detail::read_word(address, source_location::current()); });
}

void optimist_store_u64(uint64_t* address, uint64_t value) {
  if (entered("optimist_store_u64") == nullptr) return;
  guarded("optimist_store_u64", 0, [&] {
    optimist::detail::write_word(address, value, source_location::current());
    return 0;
  });
}

void* optimist_load_ptr(void* const* address) {
  static_assert(sizeof(void*) == sizeof(uint64_t), "the C API assumes 64-bit pointers");
  if (entered("optimist_load_ptr") == nullptr) return nullptr;
  return guarded("optimist_load_ptr", static_cast<void*>(nullptr), [&] {
    return reinterpret_cast<void*>(
        optimist::detail::read_word(address, source_location::current()));
  });
}

void optimist_store_ptr(void** address, void* value) {
  if (entered("optimist_store_ptr") == nullptr) return;
  guarded("optimist_store_ptr", 0, [&] {
    optimist::detail::write_word(address, reinterpret_cast<uint64_t>(value),
                                 source_location::current());
    return 0;
  });
}

void* optimist_tx_malloc(size_t size) {
  if (entered("optimist_tx_malloc") == nullptr) return nullptr;
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

void optimist_tx_free(void* pointer) {
  if (entered("optimist_tx_free") == nullptr || pointer == nullptr) return;
  guarded("optimist_tx_free", 0, [&] {
    try {
      optimist::detail::log_deletion(pointer, &std::free, source_location::current());
    } catch (const std::logic_error& e) {
      std::fprintf(stderr, "optimist: optimist_tx_free: %s\n", e.what());
    }
    return 0;
  });
}

}  // extern "C"
