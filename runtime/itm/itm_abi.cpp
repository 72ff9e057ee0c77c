// liboptimist_itm.so: GCC's transactional memory ABI (the libitm entry points
// that g++/gcc -fgnu-tm emit) on optimist's engine, so that an existing
// __transaction_atomic program runs unchanged — LD_PRELOAD=liboptimist_itm.so,
// or linked instead of -litm — and gets optimist's conflict reports.
//
// A GNU TM transaction is a C-API transaction of the engine: the restart
// point is the descriptor's c_jump_buffer, armed by _ITM_beginTransaction
// (itm_begin_x86_64.cpp); a conflict rolls back and siglongjmps there; the
// code runs again from its instrumented path with restoreLiveVariables.
// Nested transactions are flattened. The barriers are in itm_barriers.cpp;
// their site is the caller's return address, symbolized only while reporting.
// OPTIMIST_MODE applies as to C++ blocks (start_attempt): serial attempts
// run the instrumented code with barriers that access memory in place and
// keep an undo log, and give way to a thread waiting at the gate.
//
// What libitm keeps for itself and we keep per thread (itm_thread.hpp): the
// caller's return address and stack pointer, the undo log of _ITM_LB (stack
// and thread-local data the compiler asks to restore on restart), and user
// undo actions.
//
// A transaction with only an uninstrumented path (GCC emits one for code it
// cannot instrument: a __transaction_relaxed that does I/O) runs serially
// and inevitably, whatever the mode (start_serial_forced).
// Limits: x86-64 Linux; indirect calls to functions without a transactional
// clone end the program with a message naming them (running them unlogged
// would break isolation); __m64 and __m256 barriers are not provided.
#include <cxxabi.h>
#include <immintrin.h>
#include <malloc.h>

#include <unwind.h>
#include <atomic>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "durable/commit_hook.hpp"
#include "itm/itm_thread.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/recorder.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

using namespace optimist::detail;

// libsupc++ (CXXABI_TM_1): frees an exception allocated and not thrown, releases the exception
// being propagated, and ends `caught_count` catches, for a transaction that rolled back.
extern "C" void __cxa_tm_cleanup(void* unthrown, void* cleanup_exception,
                                 unsigned int caught_count) noexcept;

namespace {

// libitm.h's values (the actions are also GCC's A_* in trans-mem.cc: the code it emits after
// _ITM_beginTransaction tests a_abortTransaction, 0x10, in a transaction that may be cancelled).
enum : std::uint32_t {
  pr_instrumentedCode = 0x0001,
  pr_uninstrumentedCode = 0x0002,
  a_runInstrumentedCode = 0x01,
  a_runUninstrumentedCode = 0x02,
  a_saveLiveVariables = 0x04,
  a_restoreLiveVariables = 0x08,
  a_abortTransaction = 0x10,
  userAbort = 1,
  outerAbort = 16,  // __transaction_cancel [[outer]]
  outsideTransaction = 0,
  inRetryableTransaction = 1,
  inIrrevocableTransaction = 2,
  modeSerialIrrevocable = 0,
};

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "optimist_itm: %s\n", what);
  std::abort();
}

transaction& running(const char* function) {
  transaction* tx = tls_current;
  if (tx == nullptr) [[unlikely]] {
    std::fprintf(stderr, "optimist_itm: %s called outside a transaction\n", function);
    std::abort();
  }
  return *tx;
}

// Undo of a restarted or cancelled attempt that the engine does not know
// about: the bytes _ITM_LB saved (newest first), then the user's undo actions.
// The thread's count of exceptions thrown and not yet caught (std::uncaught_exceptions()), in
// libsupc++'s per-thread globals (as thread_registry.cpp reads it).
unsigned* uncaught_exception_count() noexcept {
  struct itanium_eh_globals {
    void* caught_exceptions;
    unsigned int uncaught_exceptions;
  };
  auto* globals = reinterpret_cast<itanium_eh_globals*>(abi::__cxa_get_globals());
  return globals != nullptr ? &globals->uncaught_exceptions : nullptr;
}

// INVARIANT rolled-back-exceptions-undestroyed (itm_thread.hpp). The destructor given to
// _ITM_cxa_throw is kept here per thrown object, and libsupc++ is given destroy_thrown, which
// calls it unless the object's transaction rolled back. Global, not per thread: the last
// reference to a caught exception (an exception_ptr) may go on any thread.
struct thrown_object {
  void (*destructor)(void*);
  bool rolled_back;
};
std::mutex& thrown_mutex() {
  static auto* m =
      new std::mutex;  // (never destroyed: exceptions may go during static destruction)
  return *m;
}
std::unordered_map<void*, thrown_object>& thrown_objects() {
  static auto* objects = new std::unordered_map<void*, thrown_object>;  // (never destroyed)
  return *objects;
}

void destroy_thrown(void* object) {
  void (*destructor)(void*) = nullptr;
  {
    std::lock_guard<std::mutex> lock(thrown_mutex());
    auto it = thrown_objects().find(object);
    if (it == thrown_objects().end()) return;
    if (!it->second.rolled_back) destructor = it->second.destructor;
    thrown_objects().erase(it);
  }
  if (destructor != nullptr) destructor(object);
}

// The attempt rolled back: none of the objects it threw is destroyed (those destroyed already
// are no longer in the table; an address reused since is another throw of this attempt).
void mark_thrown_rolled_back(const itm_thread& state) noexcept {
  if (state.thrown.empty()) return;
  std::lock_guard<std::mutex> lock(thrown_mutex());
  for (void* object : state.thrown) {
    auto it = thrown_objects().find(object);
    if (it != thrown_objects().end()) it->second.rolled_back = true;
  }
}

// After the rollback's cleanup: libsupc++ frees exceptions in flight or in an open catch
// without their destructor (__cxa_tm_cleanup), so destroy_thrown never sees them; their entries
// go here. (One still referenced elsewhere finds no entry when it goes: nothing to run.)
void forget_thrown(itm_thread& state) noexcept {
  if (state.thrown.empty()) return;
  {
    std::lock_guard<std::mutex> lock(thrown_mutex());
    for (void* object : state.thrown) {
      auto it = thrown_objects().find(object);
      if (it != thrown_objects().end() && it->second.rolled_back) thrown_objects().erase(it);
    }
  }
  state.thrown.clear();
}

void free_deferred_exceptions(itm_thread& state) noexcept {
  for (void* exception : state.freed_exceptions) __cxxabiv1::__cxa_free_exception(exception);
  state.freed_exceptions.clear();
}

// The unwinder's header of a thrown object: the Itanium C++ ABI puts it right before the
// object (libsupc++'s __get_object_from_ue is `ue + 1`).
void* unwind_header_of(void* thrown_object) noexcept {
  return static_cast<_Unwind_Exception*>(thrown_object) - 1;
}

void undo_thread_state(itm_thread& state) noexcept {
  for (std::size_t i = state.saved.size(); i > 0; --i) {
    const itm_saved_bytes& s = state.saved[i - 1];
    std::memcpy(s.address, state.saved_data.data() + s.offset, s.size);
  }
  state.saved.clear();
  state.saved_data.clear();
  for (std::size_t i = state.undo_actions.size(); i > 0; --i)
    state.undo_actions[i - 1].function(state.undo_actions[i - 1].argument);
  state.undo_actions.clear();
  mark_thrown_rolled_back(state);  // before any reference goes (below)
  state.caught.clear();            // INVARIANT caught-kept: rolled back, so they go
  // libsupc++'s own cleanup of an unthrown object also lowers the uncaught count, which g++ 12's
  // __cxa_allocate_exception never raised (__cxa_throw does): it is freed here instead; the
  // exception in flight at a failed _ITM_commitTransactionEH was thrown, and its cleanup does
  // not lower the count (nothing will catch it now): lowered here.
  if (state.unthrown != nullptr) {
    __cxxabiv1::__cxa_free_exception(state.unthrown);
    state.unthrown = nullptr;
  }
  // Exceptions thrown and not yet caught when the attempt was restarted or cancelled while
  // they unwound (a destructor's conflict, __transaction_cancel [[outer]]) are in flight too
  // (each leaked, and std::uncaught_exceptions() stayed raised for the rest of the thread).
  // The newest is `in_flight` when that is set (the exception leaving the transaction).
  if (state.in_flight == nullptr && !state.thrown_uncaught.empty()) {
    state.in_flight = unwind_header_of(state.thrown_uncaught.back());
  }
  if (!state.thrown_uncaught.empty()) state.thrown_uncaught.pop_back();
  for (void* older : state.thrown_uncaught) {
    __cxa_tm_cleanup(nullptr, unwind_header_of(older), 0);
    if (unsigned* uncaught = uncaught_exception_count()) --*uncaught;
  }
  state.thrown_uncaught.clear();
  if (state.in_flight != nullptr || state.catches_open != 0) {
    __cxa_tm_cleanup(nullptr, state.in_flight, state.catches_open);
    if (state.in_flight != nullptr) {
      if (unsigned* uncaught = uncaught_exception_count()) --*uncaught;
    }
    state.in_flight = nullptr;
    state.catches_open = 0;
  }
  forget_thrown(state);
  free_deferred_exceptions(state);  // after the engine's undo (discard_attempt) wrote into them
}

// Starts the outermost attempt of `tx` in the mode OPTIMIST_MODE gives it,
// as an atomic block of the C++ API does (block_begin, serial_mode.hpp):
// serially (in place, with an undo log: the barriers take their serial
// path) where the mode says so, else speculatively. Serial attempts keep
// give-way: a thread that waits for one at the gate claims it and it
// restarts at its next barrier or at its commit (restart_given_way jumps to
// the restart point), so a transaction that waits for another thread's
// transaction (through a transaction_pure function) does not hang. Except:
//   - the attempt after a give-way runs speculatively (serial_fallback_next),
//     and nothing runs serially while a durable store is open (its words
//     must be logged before they are written: block_begin);
//   - auto mode runs speculatively while a report is recorded
//     (OPTIMIST_REPORT): a thread alone would otherwise run every attempt
//     serially, and a conflict that shows beside other threads (the report's
//     purpose: a planted one, say) would only make it give way, which names
//     no conflicting access. serial mode is the user's explicit choice: it
//     stays serial, and the report shows its lock waits.
void start_serial_forced(transaction& tx, optimist::source_location site, bool inevitable);

void start_attempt(transaction& tx, itm_thread& state, optimist::source_location site) {
  if (state.serial_next) [[unlikely]] {
    state.serial_next = false;
    tx.serial_fallback_next = false;  // (set if a give-way asked for this re-run)
    start_serial_forced(tx, site, false);
    return;
  }
  bool serial = false;
  if (tx.serial_fallback_next) {
    tx.serial_fallback_next = false;
  } else if (!durable_hook_active()) {
    try {
      serial = thread_runs_serial(tx) && !(serial_is_auto() && reporting_on());
    } catch (const std::exception& e) {
      fatal(e.what());  // a bad OPTIMIST_MODE: nothing can throw into the program's frames
    }
  }
  if (serial) {
    tx.start_serial(site);  // speculatively if it gave up waiting for the gate
  } else {
    tx.start(site);
  }
  tx.c_restart_point = &tx.c_jump_buffer;
}

// Starts an outermost attempt that runs serially whatever OPTIMIST_MODE says:
// a block GCC gave only an uninstrumented path (a __transaction_relaxed that
// calls unsafe code, I/O say), made inevitable at once (`inevitable`): its
// plain loads and stores then run alone, as under libitm's serial-irrevocable
// method; or the re-run of a block whose nested block has only that path
// (serial_next: it becomes inevitable there). Tries again where the gate was
// not taken (close_gate gave up waiting for a speculator) or the attempt was
// taken over before it became inevitable: none of its code has run.
// Limit: the uninstrumented code's writes carry no orec versions
// (INVARIANT serial-writes-stamped, serial_mode.cpp), so a C or C++ retry()
// that waits on words such a block writes is not woken by it.
void start_serial_forced(transaction& tx, optimist::source_location site, bool inevitable) {
  for (;;) {
    tx.start_serial(site);
    if (tx.mode == tx_mode::serial && (!inevitable || tx.serial_become_inevitable(site))) break;
    tx.discard_attempt();
    tx.serial_fallback_next = false;
  }
  tx.c_restart_point = &tx.c_jump_buffer;
}

// True if the outermost transaction of `tx` is a GNU TM one (its restart
// point is _ITM_beginTransaction's), not a C or C++ block.
bool itm_outermost(const transaction& tx) {
  return t_itm_caller_stack != 0 && tx.outer_restart_point() == &tx.c_jump_buffer;
}

// Rolls back the speculative attempt of a GNU TM transaction (itm_outermost)
// and runs it again serially (serial_next), from its _ITM_beginTransaction.
[[noreturn]] void rerun_serially(transaction& tx) {
  if (tx.inevitable_requested) {
    fatal(
        "a transaction that became irrevocable in software must run uninstrumented code; it "
        "can neither run it in place nor start again");
  }
  itm_state().serial_next = true;
  // Inside a C++ block nested in it (INVARIANT cxx-inside-c): restart_signal
  // unwinds that block, which then jumps back (leave_to_c); serial_next stays.
  if (tx.c_restart_point == nullptr) tx.restart(optimist::abort_cause::explicit_restart);
  sigjmp_buf* target = tx.c_restart_point;
  tx.doom_cause = optimist::abort_cause::explicit_restart;
  tx.rollback();
  siglongjmp(*target, 1);
}

// A nested block with only an uninstrumented path (flattened into `tx`, whose
// depth is already counted): its plain stores go in place, so the outermost
// attempt must be serial and becomes inevitable here. A speculative one (or
// an irrevocable one: it buffers its writes too) runs again serially; a
// serial one taken over first runs again as well. Returns the marker that
// makes _ITM_beginTransaction return a_runUninstrumentedCode.
sigjmp_buf* enter_nested_uninstrumented(transaction& tx, const void* return_address) {
  const optimist::source_location site = itm_site_of(&tx, return_address);
  if (tx.mode == tx_mode::serial) {
    if (tx.serial_become_inevitable(site)) return reinterpret_cast<sigjmp_buf*>(1);
    tx.restart_given_way();  // (a C++ outermost block: restart_signal)
  }
  if (!itm_outermost(tx)) {
    fatal(
        "a __transaction_atomic with no instrumented code path runs inside a C or C++ atomic "
        "block that runs speculatively; run that block serially (OPTIMIST_MODE=serial)");
  }
  rerun_serially(tx);
}

void destroy_with_delete(void* p) {
  ::operator delete(p);
}

// Blocks allocated by an optimistic or irrevocable attempt are written in place
// (INVARIANT fresh-in-place, itm_barriers.cpp), so each must be recorded:
// room for one more record is made before the allocation (false: out of
// memory, and nothing is allocated), so that recording it cannot fail after.
bool make_room_for_fresh_block() noexcept {
  transaction* tx = tls_current;
  if (tx == nullptr || (tx->mode != tx_mode::optimistic && tx->mode != tx_mode::irrevocable))
    return true;
  auto& blocks = tx->fresh_blocks;
  if (blocks.size() < blocks.capacity()) return true;
  try {
    blocks.reserve(blocks.empty() ? 8 : 2 * blocks.size());
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

void note_fresh_block(void* p, std::size_t size) noexcept {
  transaction* tx = tls_current;
  if (tx == nullptr || (tx->mode != tx_mode::optimistic && tx->mode != tx_mode::irrevocable))
    return;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  tx->fresh_begin = begin;
  tx->fresh_size = size;
  auto& blocks = tx->fresh_blocks;  // sorted by begin; live blocks never overlap
  const auto at =
      std::upper_bound(blocks.begin(), blocks.end(), begin,
                       [](std::uintptr_t b, const std::pair<std::uintptr_t, std::uintptr_t>& e) {
                         return b < e.first;
                       });
  blocks.insert(at, {begin, begin + size});  // room made before the allocation: no throw
}

// _ITM_getTransactionId's ids: 2, 3, ... (0 is unused, 1 is _ITM_noTransactionId).
std::atomic<std::uint64_t> next_transaction_id{2};

// The transactional-clone table registered by crtbegin.o of each module.
struct clone_table {
  const void* const* entries;  // pairs: original, clone
  std::size_t size;
};
std::vector<clone_table>& clone_tables() {
  static auto* tables = new std::vector<clone_table>();
  return *tables;
}

// Modules register and deregister their tables when they are loaded and unloaded (dlopen,
// dlclose), possibly while other threads look clones up: the list changes under the writer
// side of this lock (push_back reallocated it under a reader).
std::shared_mutex& clone_tables_mutex() {
  static auto* m = new std::shared_mutex;  // (never destroyed: modules unload at exit)
  return *m;
}

// The transactional clone of `function`, or null.
void* find_clone(void* function) {
  std::shared_lock<std::shared_mutex> lock(clone_tables_mutex());
  for (const clone_table& t : clone_tables()) {
    for (std::size_t i = 0; i < t.size; ++i) {
      if (t.entries[2 * i] == function) return const_cast<void*>(t.entries[2 * i + 1]);
    }
  }
  return nullptr;
}

}  // namespace

itm_thread& optimist::detail::make_itm_state() {
  static thread_local itm_thread state;
  t_itm_state = &state;
  return state;
}

extern "C" {

// ---- begin / commit / abort ---------------------------------------------------------------

// _ITM_beginTransaction jumps to the first member (itm_begin_x86_64.cpp).
static_assert(offsetof(itm_thread, return_address) == 0);
static_assert(offsetof(itm_thread, first_flags) == 12);  // and read at 12

struct itm_resume {
  std::uint64_t flags;
  void* return_address;
};

// Called by _ITM_beginTransaction (itm_begin_x86_64.cpp; hidden, so a direct
// call): starts the outermost transaction's first attempt and returns the
// restart point for its sigsetjmp, or returns null for a nested one (1 for a
// nested one with only uninstrumented code).
sigjmp_buf* optimist_itm_prepare(std::uint32_t properties, void* return_address,
                                 std::uintptr_t caller_stack) {
  transaction& tx = this_thread_transaction();
  if (tx.depth > 0) {
    ++tx.depth;  // flattened into the outermost transaction
    if ((properties & pr_instrumentedCode) != 0) [[likely]]
      return nullptr;
    return enter_nested_uninstrumented(tx, return_address);
  }
  itm_thread& state = itm_state();
  state.return_address = return_address;
  state.properties = properties;
  t_itm_caller_stack = caller_stack;
  // What a committed transaction left (its commit does not clear the lists: it
  // may run user commit actions that start transactions of their own).
  state.saved.clear();
  state.saved_data.clear();
  state.undo_actions.clear();
  state.unthrown = nullptr;
  state.in_flight = nullptr;
  state.catches_open = 0;
  state.thrown_uncaught.clear();
  state.thrown.clear();
  const optimist::source_location site = itm_site_of(nullptr, return_address);
  if ((properties & pr_instrumentedCode) == 0) [[unlikely]] {
    state.first_flags = a_runUninstrumentedCode;  // (no restart: it is inevitable)
    start_serial_forced(tx, site, true);
  } else {
    state.first_flags = a_runInstrumentedCode | a_saveLiveVariables;
    start_attempt(tx, state, site);
  }
  state.transaction_id = next_transaction_id.fetch_add(1, std::memory_order_relaxed);
  return &tx.c_jump_buffer;
}

// After a siglongjmp to the restart point: 1, the engine restarts the
// transaction; 2, _ITM_abortTransaction cancelled it. Undoes what the engine
// does not know about and starts the next attempt (1).
itm_resume optimist_itm_restart(int jumped) {
  transaction& tx = this_thread_transaction();
  itm_thread& state = itm_state();
  undo_thread_state(state);
  if (jumped == 2) {
    t_itm_caller_stack = 0;
    return {a_abortTransaction | a_restoreLiveVariables, state.return_address};
  }
  start_attempt(tx, state, itm_site_of(nullptr, state.return_address));
  return {a_runInstrumentedCode | a_restoreLiveVariables, state.return_address};
}

#pragma GCC visibility push(default)

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
  t_itm_caller_stack = 0;
  itm_thread& state = itm_state();
  state.thrown.clear();  // committed: their destructors run as outside transactions
  if (!state.caught.empty()) state.caught.clear();  // INVARIANT caught-kept: committed
  state.unthrown = nullptr;  // (committed: the program owns it, as outside transactions)
  state.thrown_uncaught.clear();
  state.catches_open = 0;
  if (!state.freed_exceptions.empty()) free_deferred_exceptions(state);
}

// The commit at a landing pad, with `exception` (an _Unwind_Exception) in flight: if the commit
// fails, the rollback releases it (the transaction runs again, and throws again or not).
void _ITM_commitTransactionEH(void* exception) {
  transaction& tx = running("_ITM_commitTransactionEH");
  itm_thread& state = itm_state();
  if (tx.depth == 1) state.in_flight = exception;
  _ITM_commitTransaction();
  state.in_flight = nullptr;
}

// __transaction_cancel: the outermost transaction (GCC's nested ones are flattened) rolls back
// and ends. So a cancel [[outer]] is served at any depth; a plain cancel in a nested transaction
// would roll back only that one (closed nesting), which flattening cannot do: refused.
void _ITM_abortTransaction(int reason) {
  transaction& tx = running("_ITM_abortTransaction");
  if ((reason & ~outerAbort) != userAbort)
    fatal("_ITM_abortTransaction with a reason other than userAbort");
  if (tx.depth > 1 && (reason & outerAbort) == 0)
    fatal(
        "__transaction_cancel in a nested transaction is not supported (nested transactions are "
        "flattened into the outermost one; __transaction_cancel [[outer]] is supported)");
  if (!itm_outermost(tx))
    fatal("__transaction_cancel in a transaction nested in a C or C++ atomic block");
  sigjmp_buf* target = &tx.c_jump_buffer;
  tx.counters.count_abort(optimist::abort_cause::explicit_restart);
  tx.discard_attempt();  // a serial attempt: its writes undone in place
  // The block ends here: a serial attempt taken over meanwhile (give-way)
  // asked for a speculative next attempt in discard_attempt; there is none,
  // and the thread's next transaction decides its mode afresh.
  tx.serial_fallback_next = false;
  siglongjmp(*target, 2);
}

// GCC asks for serial-irrevocable mode before code it did not instrument (a
// call to an unsafe function in a __transaction_relaxed): that code's plain
// loads and stores must see and make the transaction's own writes in place.
// So, as libitm does, the transaction runs serially and becomes inevitable
// there: a serial attempt at once, a speculative one after running again
// serially (its redo log would otherwise write back over the plain stores,
// and its reads miss them). A C or C++ outer block becomes inevitable as
// before (become_inevitable: its writes stay buffered).
void _ITM_changeTransactionMode(int mode) {
  if (mode != modeSerialIrrevocable) return;
  transaction& tx = running("_ITM_changeTransactionMode");
  const optimist::source_location site = itm_site_of(&tx, __builtin_return_address(0));
  if (tx.mode == tx_mode::serial) {
    if (tx.serial_become_inevitable(site)) return;
    if (itm_outermost(tx)) itm_state().serial_next = true;  // taken over first: again, serially
    tx.restart_given_way();  // (a C++ outermost block: restart_signal)
  }
  if (!itm_outermost(tx)) {
    // A speculative C or C++ block keeps its writes in its redo log even once irrevocable:
    // the plain code would miss them and its stores would bypass the orecs (lost writes), and
    // only a GNU TM outermost transaction can be re-run serially from here.
    fatal(
        "a __transaction_relaxed runs unsafe code (or calls a function without a transactional "
        "clone) inside a C or C++ atomic block that runs speculatively; run that block serially "
        "(OPTIMIST_MODE=serial)");
  }
  rerun_serially(tx);
}

int _ITM_inTransaction() {
  transaction* tx = tls_current;
  if (tx == nullptr) return outsideTransaction;
  const bool irrevocable =
      tx->mode == tx_mode::irrevocable || (tx->mode == tx_mode::serial && tx->inevitable_requested);
  return irrevocable ? inIrrevocableTransaction : inRetryableTransaction;
}

// libitm.h: _ITM_noTransactionId (1) outside transactions; an id unique in the process, never 1,
// inside one (it was 0 outside, and counted per thread from 1: every thread's first transaction
// had the no-transaction id, and threads repeated each other's ids).
std::uint64_t _ITM_getTransactionId() {
  return tls_current != nullptr ? itm_state().transaction_id : 1;
}

void _ITM_addUserCommitAction(void (*function)(void*), std::uint64_t, void* argument) {
  running("_ITM_addUserCommitAction").on_commit.push_back([=] { function(argument); });
}

void _ITM_addUserUndoAction(void (*function)(void*), void* argument) {
  running("_ITM_addUserUndoAction");
  itm_state().undo_actions.push_back({function, argument});
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
    std::unique_lock<std::shared_mutex> lock(clone_tables_mutex());
    clone_tables().push_back({static_cast<const void* const*>(table), size});
  } catch (...) {
  }
}

void _ITM_deregisterTMCloneTable(void* table) {
  std::unique_lock<std::shared_mutex> lock(clone_tables_mutex());
  auto& tables = clone_tables();
  for (std::size_t i = 0; i < tables.size(); ++i) {
    if (tables[i].entries == table) {
      tables.erase(tables.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

void* _ITM_getTMCloneSafe(void* function) {
  if (void* clone = find_clone(function)) return clone;
  std::fprintf(stderr,
               "optimist_itm: an indirect call in a transaction to %p, which has no "
               "transactional clone (declare it transaction_safe)\n",
               function);
  std::abort();
}

// No clone: the transaction runs the function's own code, so it becomes serial-irrevocable first
// (as libitm does; _ITM_changeTransactionMode may run it again, serially, to this call).
void* _ITM_getTMCloneOrIrrevocable(void* function) {
  if (void* clone = find_clone(function)) return clone;
  _ITM_changeTransactionMode(modeSerialIrrevocable);
  return function;
}

// ---- memory management --------------------------------------------------------------------

void* _ITM_malloc(std::size_t size) {
  if (!make_room_for_fresh_block()) return nullptr;
  void* p = std::malloc(size);
  if (p != nullptr) {
    log_allocation(p, &std::free);
    note_fresh_block(p, size);
  }
  return p;
}

void* _ITM_calloc(std::size_t count, std::size_t size) {
  if (!make_room_for_fresh_block()) return nullptr;
  void* p = std::calloc(count, size);
  if (p != nullptr) {
    log_allocation(p, &std::free);
    note_fresh_block(p, count * size);  // (calloc checked the product)
  }
  return p;
}

void _ITM_free(void* p) {
  if (p != nullptr)
    log_deletion(p, &std::free, itm_site_of(tls_current, __builtin_return_address(0)),
                 malloc_usable_size(p));  // (large blocks: reclaimed after fewer retirements)
}

// operator new / new[] / delete / delete[] (sized too): the mangled names of
// their transactional clones.
void* _ZGTtnwm(std::size_t size) {
  if (!make_room_for_fresh_block()) throw std::bad_alloc();
  void* p = ::operator new(size);
  log_allocation(p, &destroy_with_delete);
  note_fresh_block(p, size);
  return p;
}
void* _ZGTtnam(std::size_t size) {
  return _ZGTtnwm(size);
}
void _ZGTtdlPv(void* p) {
  if (p != nullptr)
    log_deletion(p, &destroy_with_delete, itm_site_of(tls_current, __builtin_return_address(0)));
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

// The exception object is a fresh block (INVARIANT fresh-in-place): g++ writes it through the
// barriers (a constructor's clone), and in the redo log those bytes would be written back at the
// commit, after the catch had freed the object.
void* _ITM_cxa_allocate_exception(std::size_t size) {
  if (!make_room_for_fresh_block()) fatal("out of memory throwing an exception in a transaction");
  void* p = __cxxabiv1::__cxa_allocate_exception(size);  // (terminates when out of memory)
  note_fresh_block(p, size);
  if (tls_current != nullptr) itm_state().unthrown = p;
  return p;
}
void _ITM_cxa_free_exception(void* exception) {
  itm_thread& state = itm_state();
  if (state.unthrown == exception) state.unthrown = nullptr;
  if (tls_current == nullptr) {
    __cxxabiv1::__cxa_free_exception(exception);
    return;
  }
  // Not yet: a serial rollback replays the undo log into the object (the memory may be
  // another exception's by then). Freed when the transaction ends.
  try {
    state.freed_exceptions.push_back(exception);
  } catch (const std::bad_alloc&) {
    fatal("out of memory freeing an exception in a transaction");
  }
}
void _ITM_cxa_throw(void* exception, void* type, void (*destructor)(void*)) {
  itm_thread& state = itm_state();
  state.unthrown = nullptr;
  if (tls_current != nullptr) {
    try {
      state.thrown_uncaught.push_back(exception);
      state.thrown.push_back(exception);
      if (destructor != nullptr) {
        std::lock_guard<std::mutex> lock(thrown_mutex());
        thrown_objects()[exception] = {destructor, false};
        destructor = &destroy_thrown;  // INVARIANT rolled-back-exceptions-undestroyed
      }
    } catch (const std::bad_alloc&) {
      fatal("out of memory throwing an exception in a transaction");
    }
  }
  __cxxabiv1::__cxa_throw(exception, static_cast<std::type_info*>(type), destructor);
}
void* _ITM_cxa_begin_catch(void* exception) {
  if (tls_current != nullptr) {
    itm_thread& state = itm_state();
    ++state.catches_open;
    for (std::size_t i = state.thrown_uncaught.size(); i > 0; --i) {  // `exception`: its header
      if (unwind_header_of(state.thrown_uncaught[i - 1]) == exception) {
        state.thrown_uncaught.erase(state.thrown_uncaught.begin() + static_cast<long>(i - 1));
        break;
      }
    }
  }
  return __cxxabiv1::__cxa_begin_catch(exception);
}
void _ITM_cxa_end_catch() {
  if (tls_current != nullptr) {
    itm_thread& state = itm_state();
    try {
      state.caught.push_back(std::current_exception());  // INVARIANT caught-kept
    } catch (const std::bad_alloc&) {
      fatal("out of memory keeping an exception caught in a transaction");
    }
    if (state.catches_open > 0) --state.catches_open;
  }
  __cxxabiv1::__cxa_end_catch();
}

#pragma GCC visibility pop
}  // extern "C"
