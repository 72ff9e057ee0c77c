// liboptimist_itm.so: GCC's transactional memory ABI (the libitm entry points
// that g++/gcc -fgnu-tm emit) on optimist's engine, so that an existing
// __transaction_atomic program runs unchanged — LD_PRELOAD=liboptimist_itm.so,
// or linked instead of -litm — and gets optimist's conflict reports.
//
// A GNU TM transaction is a C-API transaction of the engine: the restart
// point is the descriptor's c_jump_buffer, armed by _ITM_beginTransaction
// (itm_begin_x86_64.cpp); a conflict rolls back and siglongjmps there; the
// code runs again from its instrumented path with restoreLiveVariables.
// Nested transactions are flattened. Every barrier is a read_bytes /
// write_bytes (read_word / write_word for an aligned 8-byte word) whose site
// is the caller's return address, symbolized only while reporting.
//
// What libitm keeps for itself and we keep per thread (itm_thread): the
// caller's return address, the undo log of _ITM_LB (stack and thread-local
// data the compiler asks to restore on restart), and user undo actions.
//
// Limits: x86-64 Linux; a transaction with only an uninstrumented path (GCC
// emits one for code it cannot instrument) and indirect calls to functions
// without a transactional clone end the program with a message naming them
// (running them unlogged would break isolation); __m64 and __m256 barriers
// are not provided.
#include <cxxabi.h>
#include <immintrin.h>

#include <bit>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "itm/itm_sites.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/recorder.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

using optimist::source_location;
using optimist::detail::tls_current;
using optimist::detail::transaction;

namespace {

// libitm.h's values.
enum : std::uint32_t {
  pr_instrumentedCode = 0x0001,
  pr_uninstrumentedCode = 0x0002,
  a_runInstrumentedCode = 0x01,
  a_runUninstrumentedCode = 0x02,
  a_saveLiveVariables = 0x08,
  a_restoreLiveVariables = 0x10,
  a_abortTransaction = 0x20,
  userAbort = 1,
  outsideTransaction = 0,
  inRetryableTransaction = 1,
  inIrrevocableTransaction = 2,
  modeSerialIrrevocable = 0,
};

struct undo_bytes {
  void* address;
  std::vector<unsigned char> saved;
};

struct user_action {
  void (*function)(void*);
  void* argument;
};

struct itm_thread {
  void* return_address = nullptr;  // of the outermost _ITM_beginTransaction
  // The caller's stack pointer after that call returns. INVARIANT
  // (callee-stack-direct): memory of this thread's stack below it belongs to
  // frames called inside the transaction, which are gone by its commit; GCC
  // instruments their locals when their address escapes, so barriers access
  // them directly — buffering them would write back into dead stack (the
  // commit's own frames) at commit.
  std::uintptr_t caller_stack = 0;
  std::uint32_t properties = 0;
  std::vector<undo_bytes> undo;           // _ITM_LB
  std::vector<user_action> undo_actions;  // _ITM_addUserUndoAction
  std::uint64_t transaction_id = 0;
};

thread_local itm_thread t_itm;

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "optimist_itm: %s\n", what);
  std::abort();
}

// INVARIANT callee-stack-direct: [address, address + size) lies between the
// calling barrier's frame and the transaction's caller's stack pointer.
[[gnu::always_inline]] inline bool on_callee_stack(const void* address, std::size_t size) {
  const char marker = 0;
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  return at >= reinterpret_cast<std::uintptr_t>(&marker) && at + size <= t_itm.caller_stack;
}

source_location site_of(const void* return_address) {
  return optimist::detail::reporting_on() ? optimist::detail::itm_site(return_address)
                                          : source_location{};
}

transaction& running(const char* function) {
  transaction* tx = tls_current;
  if (tx == nullptr) {
    std::fprintf(stderr, "optimist_itm: %s called outside a transaction\n", function);
    std::abort();
  }
  return *tx;
}

// Undo of a restarted or aborted attempt that the engine does not know about.
void undo_thread_state() noexcept {
  for (std::size_t i = t_itm.undo.size(); i > 0; --i) {
    undo_bytes& u = t_itm.undo[i - 1];
    std::memcpy(u.address, u.saved.data(), u.saved.size());
  }
  t_itm.undo.clear();
  for (std::size_t i = t_itm.undo_actions.size(); i > 0; --i)
    t_itm.undo_actions[i - 1].function(t_itm.undo_actions[i - 1].argument);
  t_itm.undo_actions.clear();
}

template <class T>
T read_value(const T* address, const void* caller) {
  if (on_callee_stack(address, sizeof(T))) return *address;
  if constexpr (sizeof(T) == 8 && std::is_trivially_copyable_v<T>) {
    if (reinterpret_cast<std::uintptr_t>(address) % 8 == 0) {  // one whole word: the fast path
      return std::bit_cast<T>(optimist::detail::read_word(address, site_of(caller)));
    }
  }
  T value;
  optimist::detail::read_bytes(address, sizeof(T), &value, site_of(caller));
  return value;
}

template <class T>
void write_value(T* address, T value, const void* caller) {
  if (on_callee_stack(address, sizeof(T))) {
    *address = value;
    return;
  }
  if constexpr (sizeof(T) == 8 && std::is_trivially_copyable_v<T>) {
    if (reinterpret_cast<std::uintptr_t>(address) % 8 == 0) {
      optimist::detail::write_word(address, std::bit_cast<std::uint64_t>(value), site_of(caller));
      return;
    }
  }
  optimist::detail::write_bytes(address, sizeof(T), &value, site_of(caller));
}

void copy_bytes(void* destination, const void* source, std::size_t size, bool read_tx,
                bool write_tx, const void* caller) {
  if (size == 0) return;
  const source_location site = site_of(caller);
  // Through a buffer, so that overlapping ranges (memmove) copy correctly.
  std::vector<unsigned char> buffer(size);
  if (read_tx && !on_callee_stack(source, size)) {
    optimist::detail::read_bytes(source, size, buffer.data(), site);
  } else {
    std::memcpy(buffer.data(), source, size);
  }
  if (write_tx && !on_callee_stack(destination, size)) {
    optimist::detail::write_bytes(destination, size, buffer.data(), site);
  } else {
    std::memcpy(destination, buffer.data(), size);
  }
}

void destroy_with_delete(void* p) {
  ::operator delete(p);
}

// The transactional-clone table registered by crtbegin.o of each module.
struct clone_table {
  const void* const* entries;  // pairs: original, clone
  std::size_t size;
};
std::vector<clone_table>& clone_tables() {
  static auto* tables = new std::vector<clone_table>();
  return *tables;
}

}  // namespace

extern "C" {

// ---- begin / commit / abort ---------------------------------------------------------------

struct itm_resume {
  std::uint64_t flags;
  void* return_address;
};

sigjmp_buf* optimist_itm_prepare(std::uint32_t properties, void* return_address,
                                 std::uintptr_t caller_stack) {
  transaction& tx = optimist::detail::this_thread_transaction();
  if (tx.depth > 0) {
    ++tx.depth;  // flattened into the outermost transaction
    return nullptr;
  }
  if ((properties & pr_instrumentedCode) == 0) {
    fatal(
        "a __transaction_atomic has no instrumented code path (it calls code GCC cannot "
        "instrument); optimist cannot run it isolated");
  }
  t_itm.return_address = return_address;
  t_itm.caller_stack = caller_stack;
  t_itm.properties = properties;
  return &tx.c_jump_buffer;
}

itm_resume optimist_itm_start(int jumped) {
  transaction& tx = optimist::detail::this_thread_transaction();
  if (jumped != 0) undo_thread_state();
  if (jumped == 2) {
    t_itm.caller_stack = 0;
    return {a_abortTransaction | a_restoreLiveVariables, t_itm.return_address};
  }
  tx.start(site_of(t_itm.return_address));
  tx.c_restart_point = &tx.c_jump_buffer;
  ++t_itm.transaction_id;
  return {jumped != 0 ? a_runInstrumentedCode | a_restoreLiveVariables
                      : a_runInstrumentedCode | a_saveLiveVariables,
          t_itm.return_address};
}

void _ITM_commitTransaction() {
  transaction& tx = running("_ITM_commitTransaction");
  if (tx.depth > 1) {
    --tx.depth;
    return;
  }
  try {
    tx.commit();  // a failed commit restarts through siglongjmp
  } catch (const std::bad_alloc&) {
    fatal("out of memory committing a transaction");
  }
  t_itm.undo.clear();
  t_itm.undo_actions.clear();
  t_itm.caller_stack = 0;
}

void _ITM_commitTransactionEH(void*) {
  _ITM_commitTransaction();
}

void _ITM_abortTransaction(int reason) {
  transaction& tx = running("_ITM_abortTransaction");
  if (reason != userAbort) fatal("_ITM_abortTransaction with a reason other than userAbort");
  if (tx.depth > 1) fatal("__transaction_cancel in a nested transaction is not supported");
  sigjmp_buf* target = &tx.c_jump_buffer;
  tx.counters.count_abort(optimist::abort_cause::explicit_restart);
  tx.discard_attempt();
  siglongjmp(*target, 2);
}

void _ITM_changeTransactionMode(int mode) {
  if (mode != modeSerialIrrevocable) return;
  optimist::detail::become_inevitable(site_of(__builtin_return_address(0)));
}

int _ITM_inTransaction() {
  transaction* tx = tls_current;
  if (tx == nullptr) return outsideTransaction;
  return tx->mode == optimist::detail::tx_mode::irrevocable ? inIrrevocableTransaction
                                                            : inRetryableTransaction;
}

std::uint64_t _ITM_getTransactionId() {
  return tls_current != nullptr ? t_itm.transaction_id : 0;
}

void _ITM_addUserCommitAction(void (*function)(void*), std::uint64_t, void* argument) {
  running("_ITM_addUserCommitAction").on_commit.push_back([=] { function(argument); });
}

void _ITM_addUserUndoAction(void (*function)(void*), void* argument) {
  running("_ITM_addUserUndoAction");
  t_itm.undo_actions.push_back({function, argument});
}

void _ITM_dropReferences(void*, std::size_t) {}

int _ITM_versionCompatible(int) {
  return 1;
}

const char* _ITM_libraryVersion() {
  return "optimist_itm 1 (GNU TM ABI on optimist's STM)";
}

void _ITM_error(const void*, int) {
  fatal("_ITM_error called by the program");
}

// ---- transactional clones -----------------------------------------------------------------

void _ITM_registerTMCloneTable(void* table, std::size_t size) {
  try {
    clone_tables().push_back({static_cast<const void* const*>(table), size});
  } catch (...) {
  }
}

void _ITM_deregisterTMCloneTable(void* table) {
  auto& tables = clone_tables();
  for (std::size_t i = 0; i < tables.size(); ++i) {
    if (tables[i].entries == table) {
      tables.erase(tables.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

void* _ITM_getTMCloneSafe(void* function) {
  for (const clone_table& t : clone_tables()) {
    for (std::size_t i = 0; i < t.size; ++i) {
      if (t.entries[2 * i] == function) return const_cast<void*>(t.entries[2 * i + 1]);
    }
  }
  std::fprintf(stderr,
               "optimist_itm: an indirect call in a transaction to %p, which has no "
               "transactional clone (declare it transaction_safe)\n",
               function);
  std::abort();
}

void* _ITM_getTMCloneOrIrrevocable(void* function) {
  return _ITM_getTMCloneSafe(function);
}

// ---- memory management --------------------------------------------------------------------

void* _ITM_malloc(std::size_t size) {
  void* p = std::malloc(size);
  if (p != nullptr) optimist::detail::log_allocation(p, &std::free);
  return p;
}

void* _ITM_calloc(std::size_t count, std::size_t size) {
  void* p = std::calloc(count, size);
  if (p != nullptr) optimist::detail::log_allocation(p, &std::free);
  return p;
}

void _ITM_free(void* p) {
  if (p != nullptr)
    optimist::detail::log_deletion(p, &std::free, site_of(__builtin_return_address(0)));
}

// operator new / new[] / delete / delete[] (sized too): the mangled names of
// their transactional clones.
void* _ZGTtnwm(std::size_t size) {
  void* p = ::operator new(size);
  optimist::detail::log_allocation(p, &destroy_with_delete);
  return p;
}
void* _ZGTtnam(std::size_t size) {
  return _ZGTtnwm(size);
}
void _ZGTtdlPv(void* p) {
  if (p != nullptr)
    optimist::detail::log_deletion(p, &destroy_with_delete, site_of(__builtin_return_address(0)));
}
void _ZGTtdaPv(void* p) {
  _ZGTtdlPv(p);
}
void _ZGTtdlPvm(void* p, std::size_t) {
  _ZGTtdlPv(p);
}
void _ZGTtdaPvm(void* p, std::size_t) {
  _ZGTtdlPv(p);
}

// ---- exceptions: thrown from a transaction, they commit it (GCC's semantics) ----------------

void* _ITM_cxa_allocate_exception(std::size_t size) {
  return __cxxabiv1::__cxa_allocate_exception(size);
}
void _ITM_cxa_free_exception(void* exception) {
  __cxxabiv1::__cxa_free_exception(exception);
}
void _ITM_cxa_throw(void* exception, void* type, void (*destructor)(void*)) {
  __cxxabiv1::__cxa_throw(exception, static_cast<std::type_info*>(type), destructor);
}
void* _ITM_cxa_begin_catch(void* exception) {
  return __cxxabiv1::__cxa_begin_catch(exception);
}
void _ITM_cxa_end_catch() {
  __cxxabiv1::__cxa_end_catch();
}

// ---- logging of thread-local memory ---------------------------------------------------------

void _ITM_LB(const void* address, std::size_t size) {
  // A nested (flattened) block logs its own frame's locals: that frame is gone
  // at a restart, and restoring it would write over the restart's own frames
  // (INVARIANT callee-stack-direct).
  if (on_callee_stack(address, size)) return;
  const auto* bytes = static_cast<const unsigned char*>(address);
  t_itm.undo.push_back(
      {const_cast<void*>(address), std::vector<unsigned char>(bytes, bytes + size)});
}

#define OPTIMIST_ITM_LOG(suffix, type)       \
  void _ITM_L##suffix(const type* address) { \
    _ITM_LB(address, sizeof(type));          \
  }

// ---- barriers -------------------------------------------------------------------------------

// Reads: R (plain), RaR (after read), RaW (after write), RfW (for write).
#define OPTIMIST_ITM_READS(suffix, type)               \
  type _ITM_R##suffix(const type* a) {                 \
    return read_value(a, __builtin_return_address(0)); \
  }                                                    \
  type _ITM_RaR##suffix(const type* a) {               \
    return read_value(a, __builtin_return_address(0)); \
  }                                                    \
  type _ITM_RaW##suffix(const type* a) {               \
    return read_value(a, __builtin_return_address(0)); \
  }                                                    \
  type _ITM_RfW##suffix(const type* a) {               \
    return read_value(a, __builtin_return_address(0)); \
  }
// Writes: W, WaR (after read), WaW (after write).
#define OPTIMIST_ITM_WRITES(suffix, type)           \
  void _ITM_W##suffix(type* a, type v) {            \
    write_value(a, v, __builtin_return_address(0)); \
  }                                                 \
  void _ITM_WaR##suffix(type* a, type v) {          \
    write_value(a, v, __builtin_return_address(0)); \
  }                                                 \
  void _ITM_WaW##suffix(type* a, type v) {          \
    write_value(a, v, __builtin_return_address(0)); \
  }
#define OPTIMIST_ITM_TYPE(suffix, type) \
  OPTIMIST_ITM_READS(suffix, type)      \
  OPTIMIST_ITM_WRITES(suffix, type)     \
  OPTIMIST_ITM_LOG(suffix, type)

OPTIMIST_ITM_TYPE(U1, std::uint8_t)
OPTIMIST_ITM_TYPE(U2, std::uint16_t)
OPTIMIST_ITM_TYPE(U4, std::uint32_t)
OPTIMIST_ITM_TYPE(U8, std::uint64_t)
OPTIMIST_ITM_TYPE(F, float)
OPTIMIST_ITM_TYPE(D, double)
OPTIMIST_ITM_TYPE(E, long double)
OPTIMIST_ITM_TYPE(M128, __m128)
OPTIMIST_ITM_TYPE(CF, _Complex float)
OPTIMIST_ITM_TYPE(CD, _Complex double)
OPTIMIST_ITM_TYPE(CE, _Complex long double)

// memcpy / memmove: R{n,t,taR,taW} x W{n,t,taR,taW}; memset: W, WaR, WaW.
#define OPTIMIST_ITM_COPY(name, rs, rt, ws, wt)                           \
  void _ITM_##name##R##rs##W##ws(void* d, const void* s, std::size_t n) { \
    copy_bytes(d, s, n, rt, wt, __builtin_return_address(0));             \
  }
#define OPTIMIST_ITM_COPIES_FROM(name, rs, rt) \
  OPTIMIST_ITM_COPY(name, rs, rt, n, false)    \
  OPTIMIST_ITM_COPY(name, rs, rt, t, true)     \
  OPTIMIST_ITM_COPY(name, rs, rt, taR, true)   \
  OPTIMIST_ITM_COPY(name, rs, rt, taW, true)
#define OPTIMIST_ITM_COPIES(name)           \
  OPTIMIST_ITM_COPIES_FROM(name, n, false)  \
  OPTIMIST_ITM_COPIES_FROM(name, t, true)   \
  OPTIMIST_ITM_COPIES_FROM(name, taR, true) \
  OPTIMIST_ITM_COPIES_FROM(name, taW, true)

OPTIMIST_ITM_COPIES(memcpy)
OPTIMIST_ITM_COPIES(memmove)

#define OPTIMIST_ITM_SET(suffix)                                                             \
  void _ITM_memset##suffix(void* d, int c, std::size_t n) {                                  \
    if (n == 0) return;                                                                      \
    if (on_callee_stack(d, n)) {                                                             \
      std::memset(d, c, n);                                                                  \
      return;                                                                                \
    }                                                                                        \
    std::vector<unsigned char> bytes(n, static_cast<unsigned char>(c));                      \
    optimist::detail::write_bytes(d, n, bytes.data(), site_of(__builtin_return_address(0))); \
  }
OPTIMIST_ITM_SET(W)
OPTIMIST_ITM_SET(WaR)
OPTIMIST_ITM_SET(WaW)

}  // extern "C"
