// optimist/detail/engine.hpp — the runtime entry points that the public
// templates call. Not for users: names, signatures and semantics may change.
//
// The engine lives in runtime/stm/. Each function here documents the contract
// the templates rely on; the protocol itself is described in
// runtime/stm/commit.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "optimist/detail/serial_access.hpp"
#include "optimist/source_location.hpp"

namespace optimist::detail {

class transaction;

// Thrown by the engine to unwind an attempt that must be re-run. Only the
// outermost atomic block catches it; user code that swallows it gains
// nothing: the attempt stays doomed and the next access or the commit throws
// again.
struct restart_signal {};

// Thrown by optimist::retry(). It is a restart_signal, so every atomic block
// treats it as one (a nested block rolls back its level and lets it pass);
// the outermost block then waits for a commit to change what the attempt read
// before running it again (block_restart), and optimist::or_else catches it to
// run its second alternative (retry_absorbed).
struct retry_signal : restart_signal {};

// Transactional access to one aligned 8-byte word. Inside a transaction the
// access is logged and validated; outside it is a transaction of one access.
// May throw restart_signal (inside a transaction) and std::bad_alloc; a word
// address that is not a multiple of 8 is std::invalid_argument.
// The inline part is serial mode's direct access (serial_access.hpp); the
// rest is the engine's (*_word_engine, runtime/stm/barriers.cpp).
std::uint64_t read_word_engine(const void* word, source_location site);
void write_word_engine(void* word, std::uint64_t value, source_location site);
inline std::uint64_t read_word(const void* word, source_location site) {
  std::uint64_t value;
  if (serial_read_direct(word, value)) return value;
  return read_word_engine(word, site);
}
inline void write_word(void* word, std::uint64_t value, source_location site) {
  if (serial_write_direct(word, value)) return;
  write_word_engine(word, value, site);
}

// The same for an arbitrary byte range (split into word pieces; the bytes of a
// word outside the range are neither read nor written). Outside a transaction
// a range that spans several words runs as one small transaction.
void read_bytes(const void* address, std::size_t size, void* out, source_location site);
void write_bytes(void* address, std::size_t size, const void* in, source_location site);

// True while this thread runs a transaction.
bool in_transaction() noexcept;

// The atomic-block protocol used by optimist::atomically:
//   auto& tx = block_begin(site);          // outermost begin or nested level
//   try { f(); block_commit(tx); }          // may throw restart_signal
//   catch (restart_signal&) { if (!block_restart(tx)) throw; /* re-run */ }
//   catch (...) { if (block_exception(tx)) throw; /* doomed: re-run */ }
transaction& block_begin(source_location site);
void block_commit(transaction& tx);
// After restart_signal reached this block: true if this is the outermost block
// (its attempt has been rolled back; run it again), false if an enclosing
// block must handle it.
bool block_restart(transaction& tx) noexcept;
// After a user exception left the block's body: rolls the block back (only the
// nested level for a nested block) and returns true if the exception must
// propagate, false if the attempt was doomed and must simply be re-run.
bool block_exception(transaction& tx) noexcept;
// Called in the handler, when block_restart returned false (`restart`) or
// block_exception true: false if the exception goes on; true if the block was
// nested directly in a C transaction (optimist/stm.h) or a GNU TM one that
// must run again, which leave_to_c does by jumping back to its restart point
// once the handler is over (INVARIANT cxx-inside-c).
bool restarts_c_transaction(transaction& tx, bool restart) noexcept;
[[noreturn]] void leave_to_c(transaction& tx) noexcept;
// True while the innermost level running is a C or GNU TM transaction's (no
// C++ block opened inside it yet): or_else then runs inside a block of its own.
bool runs_directly_in_c() noexcept;

// optimist::or_else: retry_signal has left the nested block of its first
// alternative (rolled back). Returns true if the retry is now handled and the
// second alternative may run in the same transaction, false if the signal must
// propagate (the attempt has been doomed by a conflict meanwhile).
bool retry_absorbed() noexcept;
// optimist::or_else: the first alternative runs between enter and leave. A
// retry there that has read nothing is not refused (the second alternative
// runs; only a wait on nothing could never end).
void or_else_first_enter() noexcept;
void or_else_first_leave() noexcept;

// Allocation log: `object` was just allocated; destroy it if the transaction
// aborts. Outside a transaction this does nothing.
void log_allocation(void* object, void (*destroy)(void*));
// Deferred deletion: destroy `object` once the transaction has committed and
// no running transaction can still read it. Outside a transaction the object
// is retired at once (still reclaimed only when no transaction can read it).
// `bytes`: the object's size where the caller knows it (0 if not): large
// objects are reclaimed after fewer retirements (epoch_reclaimer.cpp).
void log_deletion(void* object, void (*destroy)(void*), source_location site,
                  std::size_t bytes = 0);
// log_deletion for an object the caller deletes at most once per transaction
// (a container node it has just unlinked): no search of the transaction's
// earlier deletions for a double delete, which made clearing n elements in one
// transaction cost O(n^2).
void log_unique_deletion(void* object, void (*destroy)(void*), source_location site,
                         std::size_t bytes = 0);

// Doorbells (runtime/stm/doorbell.cpp): consumers of a container that wait
// for one more item, woken one per item instead of all at once by every
// commit (optimist::retry). `bell` is an address owned by the container: the
// word that every take of an item writes.
//   read_position: inside a transaction, how many reads it has logged; call
//   before reading what tells whether the container is empty.
//   retry_at_doorbell: inside a transaction, the container is empty: like
//   optimist::retry(site), but the reads since `reads_from` are watched by the
//   doorbell (a ring wakes one waiting consumer), the rest as by retry. The
//   consumer woken by a ring must take an item, or find the container empty
//   again, or the engine rings again for it (INVARIANT doorbell-duty).
//   ring_doorbell: after the commit that made an item available; wakes the
//   longest-waiting consumer of `bell` not yet woken. One seq_cst load when
//   nobody waits at any doorbell.
//   ring_doorbell_after_commit: inside a transaction, rings after the
//   outermost commit (not if it aborts); outside one, rings now. May throw
//   std::bad_alloc.
std::size_t read_position() noexcept;
[[noreturn]] void retry_at_doorbell(const void* bell, std::size_t reads_from, source_location site);
//   retry_at_doorbell_until: the same as optimist::retry_until(deadline) is
//   to retry(): returns (nothing marked) once the deadline has passed.
void retry_at_doorbell_until(const void* bell, std::size_t reads_from,
                             std::chrono::steady_clock::time_point deadline, source_location site);
void ring_doorbell(const void* bell) noexcept;
void ring_doorbell_after_commit(const void* bell);

// Ends speculation for the running transaction (see optimist::become_inevitable).
void become_inevitable(source_location site);

// ---- Hardware transactions (runtime/htm/hardware_path.cpp) ----------------
// False only when no thread can use the hardware path (mode stm, or auto on a
// CPU without RTM, and no run_options::mode override active): atomically()
// then skips hardware_attempt() with one relaxed load. True until the mode
// has been resolved.
inline std::atomic<bool> g_hardware_maybe{true};

// Runs body(context) as a hardware transaction, retrying while the abort
// status says a retry may succeed and the per-site policy allows. Returns true
// if it committed (then the block is done), false if the caller must run the
// block in software (also when called inside a transaction: the enclosing
// block decides). Exceptions escaping body inside a hardware transaction abort
// it (body must catch them and call hardware_abort_for_exception()).
bool hardware_attempt(void (*body)(void*), void* context, source_location site);
// Inside a hardware transaction: abort it because an exception reached the
// outermost block (the block then runs in software, where the exception
// propagates with the usual rollback). Outside one: does nothing.
void hardware_abort_for_exception() noexcept;

}  // namespace optimist::detail
