// Per-thread state of liboptimist_itm.so, and what every barrier needs from it.
//
// Two parts, because barriers run on every access and the rest once per transaction:
//   - hot: t_itm_caller_stack, a constant-initialised initial-exec thread_local (one load
//     relative to %fs through a GOT slot, no __tls_get_addr call, no guard), and the engine's
//     tls_current (the same kind);
//   - cold: itm_thread (vectors), reached through an initial-exec pointer that the first
//     transaction of the thread sets (itm_state()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

#include "itm/itm_sites.hpp"
#include "optimist/source_location.hpp"
#include "profile/recorder.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

struct itm_user_action {
  void (*function)(void*);
  void* argument;
};

// _ITM_LB: bytes of stack or thread-local memory to restore when the
// transaction restarts or is cancelled.
struct itm_saved_bytes {
  void* address;
  std::size_t offset;  // into itm_thread::saved_data
  std::size_t size;
};

struct itm_thread {
  // Of the outermost _ITM_beginTransaction; the first member: the assembly of
  // _ITM_beginTransaction jumps to it (itm_begin_x86_64.cpp).
  void* return_address = nullptr;
  std::uint32_t properties = 0;
  // What _ITM_beginTransaction returns after its sigsetjmp (the second
  // member it reads: itm_begin_x86_64.cpp): a_runInstrumentedCode |
  // a_saveLiveVariables, or a_runUninstrumentedCode for a block GCC gave no
  // instrumented path (itm_abi.cpp).
  std::uint32_t first_flags = 0x05;
  // The next outermost attempt must run serially: a nested block with only
  // an uninstrumented path was reached in a speculative one (itm_abi.cpp).
  bool serial_next = false;
  std::vector<itm_saved_bytes> saved;  // _ITM_LB, oldest first
  std::vector<unsigned char> saved_data;
  std::vector<itm_user_action> undo_actions;  // _ITM_addUserUndoAction
  // INVARIANT (caught-kept): exceptions the transaction caught stay allocated until it commits or
  // rolls back (_ITM_cxa_end_catch would free them). The transaction may have written an
  // exception object in place (a fresh block, itm_barriers.cpp) or, serially, with an undo log:
  // a rollback replays the log into it, and memory freed mid-attempt may be another thread's.
  std::vector<std::exception_ptr> caught;
  // What a rollback must clean up of the C++ exception machinery (as libitm does, through
  // libsupc++'s __cxa_tm_cleanup): an exception allocated but not yet thrown, the exception a
  // commit with an exception in flight was propagating (_ITM_commitTransactionEH), and the
  // catches begun and not ended. Otherwise each is leaked, std::uncaught_exceptions() stays
  // raised, or std::current_exception() gives a stale exception for the rest of the thread.
  void* unthrown = nullptr;
  void* in_flight = nullptr;
  unsigned catches_open = 0;
  // Thrown and not yet caught by a handler of the transaction (_ITM_cxa_throw to
  // _ITM_cxa_begin_catch; more than one while a destructor run by the unwinding throws and
  // catches): a restart or cancel while they unwind (a destructor's conflict or
  // __transaction_cancel [[outer]]) releases them as exceptions in flight.
  std::vector<void*> thrown_uncaught;
  // INVARIANT (rolled-back-exceptions-undestroyed): every exception object the attempt threw.
  // A rollback undoes its construction (the memory it allocated is freed, serially the undo
  // log is replayed into it), so its destructor must not run when the last reference goes
  // (it freed that memory again: a double free); the objects are marked so (itm_abi.cpp,
  // destroy_thrown) before any reference is released.
  std::vector<void*> thrown;
  // Exception objects freed by _ITM_cxa_free_exception (a constructor threw during a throw):
  // kept until the transaction ends, since a serial rollback replays the undo log into them.
  std::vector<void*> freed_exceptions;
  std::uint64_t transaction_id = 0;
};

// The caller's stack pointer after its outermost _ITM_beginTransaction
// returned; 0 outside a transaction. INVARIANT (callee-stack-direct): memory
// of this thread's stack below it belongs to frames called inside the
// transaction, which are gone by its commit; GCC instruments their locals
// when their address escapes, so barriers access them directly — buffering
// them would write back into dead stack (the commit's own frames) at commit.
[[gnu::tls_model("initial-exec")]] inline thread_local std::uintptr_t t_itm_caller_stack = 0;

// The calling thread's cold state, created by its first call.
// (Its assembler name is fixed: _ITM_beginTransaction reads it.)
[[gnu::tls_model("initial-exec")]] inline thread_local itm_thread* t_itm_state asm(
    "optimist_itm_state") = nullptr;
itm_thread& make_itm_state();  // the first call's slow path
inline itm_thread& itm_state() {
  if (itm_thread* state = t_itm_state) [[likely]]
    return *state;
  return make_itm_state();
}

// The stack pointer of the calling function (after inlining: the barrier's).
[[gnu::always_inline]] inline std::uintptr_t itm_stack_pointer() noexcept {
  std::uintptr_t sp;
  asm("mov %%rsp, %0" : "=r"(sp));
  return sp;
}

// INVARIANT callee-stack-direct: [address, address + size) lies between the
// calling barrier's frame and the transaction's caller's stack pointer.
[[gnu::always_inline]] inline bool itm_on_callee_stack(std::uintptr_t address,
                                                       std::size_t size) noexcept {
  // The stack pointer first: a register, so an address below it (the heap of
  // the main thread, globals) is decided without a load.
  return address >= itm_stack_pointer() && address + size <= t_itm_caller_stack;
}

// The site an access at `return_address` is recorded with: a site record
// (itm_sites.hpp: a cache hit inline, symbolized only if a report needs it)
// while the transaction records conflicts for a report, else none.
[[gnu::always_inline]] inline source_location itm_site_of(const transaction* tx,
                                                          const void* return_address) noexcept {
  const bool recording = tx != nullptr ? tx->recording : reporting_on();
  return recording ? itm_site(return_address) : source_location{};
}

}  // namespace optimist::detail
