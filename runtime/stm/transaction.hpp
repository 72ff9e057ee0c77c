// The transaction descriptor: one per thread, reused by every transaction the
// thread runs, never freed (orec lock words point at descriptors, and the
// statistics of ended threads stay countable).
//
// Fields above the "shared" line are touched only by the owning thread; the
// ones below are read by other threads (reclamation, statistics) and are
// atomics.
#pragma once

#include <csetjmp>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "optimist/report.hpp"
#include "optimist/source_location.hpp"
#include "optimist/stats.hpp"
#include "profile/recorder.hpp"
#include "profile/site_key.hpp"
#include "stm/orec_table.hpp"
#include "stm/read_set.hpp"
#include "stm/retry_wait.hpp"
#include "stm/thread_counters.hpp"
#include "stm/undo_log.hpp"
#include "stm/write_log.hpp"

namespace optimist::detail {

class hardware_site_table;

enum class tx_mode : std::uint8_t {
  optimistic,   // lazy: reads validated, writes buffered, locks taken at commit
  irrevocable,  // holds the inevitability token; reserves every orec it touches
  hardware,     // inside an RTM transaction: accesses go straight to memory (runtime/htm)
  serial,       // alone under the serial gate: in place, undo log (runtime/stm/serial_mode.cpp)
};

// Why prepare_retry() refused to mark the attempt for a retry.
enum class retry_refusal : std::uint8_t {
  none,          // marked: retry_pending, doomed
  inevitable,    // become_inevitable() was called: cannot roll back
  nothing_read,  // no commit could ever wake the wait
};

struct lock_entry {
  orec* lock;
  std::uint64_t previous;  // the unlocked value to restore if the commit fails
};

struct allocation_entry {
  void* object;
  void (*destroy)(void*);
  source_location site;
  std::size_t bytes = 0;  // deletions: the object's size where known (log_deletion)
};

struct retired_object {
  void* object;
  void (*destroy)(void*);
  std::uint64_t retired_at;  // commit timestamp of the deleting transaction
  std::size_t bytes;         // its size where known, else 0
};

// What a nested block must restore if it is rolled back alone.
struct nesting_level {
  write_log::mark writes;
  std::size_t allocations;
  std::size_t deletions;
  std::size_t on_commit;
  undo_log::mark undo;  // serial mode
  // Opened by OPTIMIST_TX_BEGIN inside a running transaction (runtime/capi/stm_c.cpp): a C
  // level that a C++ exception or restart may unwind without its commit (INVARIANT
  // c-levels-unwound, atomic_block.cpp).
  bool from_c = false;
  // INVARIANT (cxx-inside-c): a C++ block opened directly inside a C or GNU TM
  // transaction keeps the transaction's restart point here while it runs, and
  // c_restart_point is null meanwhile: a restart inside it throws
  // restart_signal, which unwinds its C++ frames (destructors run), and only
  // where the block gives way to the C frames does the transaction jump back
  // (leave_to_c). A siglongjmp straight from inside it skipped them.
  sigjmp_buf* c_restart_point = nullptr;
};

inline constexpr std::uint64_t not_active = std::numeric_limits<std::uint64_t>::max();

class alignas(64) transaction : public serial_access_state {
 public:
  // ---- owner thread only -------------------------------------------------
  unsigned depth = 0;  // 0: no transaction running
  tx_mode mode = tx_mode::optimistic;
  bool doomed = false;  // must restart; set by a failed barrier
  abort_cause doom_cause = abort_cause::read_locked;
  bool stale_lock_taken = false;    // commit locked an orec whose version is newer than snapshot
  bool holds_token = false;         // owns the inevitability token
  bool holds_shared_token = false;  // and a process-shared store's (contention_manager.cpp)
  bool irrevocable_next = false;    // the next attempt starts irrevocable (start() takes the token)
  std::uint64_t snapshot = 0;       // all reads are consistent at this time
  // The same time on the shared clock of a process-shared durable store
  // (INVARIANT two-clocks, orec_table.hpp); 0 when none is open.
  std::uint64_t shared_snapshot = 0;
  std::uint64_t census_at_start = 0;  // g_thread_census when the attempt began (thread_census.hpp)
  // Hardware mode: the orec value its writes leave, 0 until the first.
  std::uint64_t hardware_stamp = 0;
  // GCC's TM ABI (runtime/itm/): the blocks this optimistic attempt
  // allocated, which the barriers write in place (INVARIANT fresh-in-place,
  // itm_barriers.cpp): the last one (one compare), and all of them as
  // [begin, end) sorted by begin. Emptied by start() and every nesting change.
  std::uintptr_t fresh_begin = 0;
  std::size_t fresh_size = 0;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> fresh_blocks;
  void forget_fresh_blocks() noexcept {
    fresh_size = 0;
    if (!fresh_blocks.empty()) fresh_blocks.clear();
  }
  source_location block_site;  // the outermost atomic block
  source_location inevitable_site;
  unsigned consecutive_aborts = 0;
  int unwinding_base = 0;  // std::uncaught_exceptions() when the attempt started
  // The C++ runtime's per-thread count of uncaught exceptions (the Itanium C++
  // ABI's __cxa_eh_globals::uncaughtExceptions), found once when the thread
  // registers (thread_registry.cpp): start() then reads the count with one
  // load instead of calling std::uncaught_exceptions() on every attempt.
  // nullptr where the runtime's layout is not known: call it.
  const unsigned* uncaught_count = nullptr;
  std::uint64_t random_state = 0x9E3779B97F4A7C15ull;

  read_set reads;
  write_log writes;
  // ---- serial mode (runtime/stm/serial_mode.cpp) ----
  // (The undo log, serial_full_fence, serial_phase and serial_claimed are in
  // the base, serial_access_state: the inline barriers touch them.)
  bool serial_fallback_next = false;  // the next attempt runs speculatively (after a retry())
  std::uint64_t serial_wait_start = 0;
  std::vector<lock_entry> locks;  // held during commit only
  // While reporting: the orec sites a commit replaced, in write-log order, put
  // back if it fails validation (INVARIANT sites-of-commits, commit.cpp).
  std::vector<site_key> replaced_sites;
  std::vector<orec*> reserved;  // held while irrevocable
  std::vector<allocation_entry> allocations;
  std::vector<allocation_entry> deletions;
  std::vector<allocation_entry> discarded;  // allocations of rolled-back nested blocks
  std::vector<nesting_level> nesting;
  std::vector<std::function<void()>> on_commit;  // run after the outermost commit
  std::vector<retired_object> retired;
  // The sizes in `retired` that are known; the length and size at which a
  // new batch has arrived since the last scan (INVARIANT batched-fences,
  // epoch_reclaimer.cpp; 0 before the first: the first batch is new).
  std::size_t retired_bytes = 0;
  std::size_t reclaim_at = 0;
  std::size_t reclaim_at_bytes = 0;
  bool reclaiming = false;
  // While a committed serial block destroys what it deleted (INVARIANT
  // serial-deletes-now, commit.cpp): serial blocks run by those destructors
  // leave their deletions in deleted_later, for that block's loop.
  bool destroying_deleted = false;
  std::vector<allocation_entry> deleted_later;
  // Set by a serial commit that deleted objects, with the gate still closed:
  // no taken-over attempt was running, so nothing can hold a pointer to them
  // (INVARIANT serial-deletes-now); read and cleared by finish_committed.
  bool deletions_unreachable = false;
  // This attempt was taken over (serial_divert) and is counted in
  // g_taken_over_running until it ends (discard_attempt).
  bool counted_taken_over = false;

  // C API: where a restart jumps to (set by OPTIMIST_TX_BEGIN), and how many
  // times the thread has entered.
  sigjmp_buf* c_restart_point = nullptr;
  unsigned c_entered = 0;
  int c_pending_error = 0;     // reported by the next OPTIMIST_TX_BEGIN after a jump
  sigjmp_buf c_jump_buffer;    // the outermost C transaction's restart point
  sigjmp_buf c_nested_buffer;  // nested C transactions save here (never jumped to)
  // INVARIANT (c-point-order): optimist_tx_restart_point_ hands out
  // c_jump_buffer for the outermost attempt whichever order a program calls it
  // in: before optimist_tx_begin_ (OPTIMIST_TX_BEGIN; c_point_given, also set
  // by a restart's jump, which lands before the macro's begin) or right after
  // it (ports of TinySTM's stm_start; c_point_owed). Before, the second order
  // got the nested buffer and the first restart jumped through a jump buffer
  // that was never set.
  bool c_point_given = false;
  bool c_point_owed = false;
  // Set by the outermost optimist_tx_begin_ and cleared when its transaction
  // commits or fails for good, so still set after a restart has jumped back
  // (depth 0). If the next C call is not optimist_tx_begin_, the program called
  // it before sigsetjmp (the TinySTM order): that call starts the attempt
  // (runtime/capi/stm_c.cpp).
  bool c_attempt_open = false;
  // The caller's OPTIMIST_TX_BEGIN (raw, as the C macros pass it), for messages.
  const char* c_block_file = nullptr;
  const char* c_block_function = nullptr;
  int c_block_line = 0;

  // Set by the task runtime while a task runs in ordered mode: called before
  // this transaction takes the inevitability token (it waits for the task's
  // turn, so that an inevitable task never waits for an earlier one).
  void (*before_irrevocable)(void*) = nullptr;
  void* before_irrevocable_context = nullptr;
  // Set with before_irrevocable by an unordered element group, and by an
  // ordered group that holds its turn (task_queue.cpp): it has no turn to
  // wait for, so a serial attempt runs the group and calls the hook (which
  // splits the group) only at become_inevitable().
  bool serial_runs_group = false;

  // optimist::retry (runtime/stm/retry.cpp). retry_pending: retry() was called
  // and the attempt is unwinding towards the outermost block (or an or_else);
  // a conflict restart clears it. inevitable_requested: become_inevitable()
  // was called in this attempt, so it can no longer be rolled back for a retry.
  bool retry_pending = false;
  bool inevitable_requested = false;
  // Set by the task runtime while a task runs: the outermost block does not
  // wait after a retry but lets retry_signal out, with the wait set in
  // retry_reads, so that the worker can set the task aside.
  bool retry_propagates = false;
  // How many or_else first alternatives are running in this attempt (their
  // retries with nothing read are absorbed, not refused: retry.cpp). Zeroed
  // when the attempt is discarded, in case a C restart jumped over a frame.
  std::uint32_t or_else_first_depth = 0;
  source_location retry_site;
  // optimist::retry_until: the earliest deadline (steady_now_ns) of the calls
  // that retried in this attempt, those an or_else absorbed included (at that
  // deadline their alternative would no longer retry); 0: none. Reset when an
  // attempt starts; read where the retried attempt waits (finish_retry, the
  // task runtime).
  std::uint64_t retry_deadline_ns = 0;
  read_set retry_reads;  // the read set of the last retried attempt (what to wait on)
  waiter retry_waiter;   // this thread, parked in the wait table
  // Doorbells (runtime/stm/doorbell.cpp). doorbell_marks: where this attempt
  // called retry_at_doorbell (cleared when the attempt ends); retry_marks: the
  // marks of the last retried attempt, with retry_reads. doorbell_duty: a ring
  // woke this block's (or, in the task runtime, this task's) last wait and is
  // owed until the block settles it (INVARIANT doorbell-duty); kept across
  // conflict restarts.
  std::vector<doorbell_mark> doorbell_marks;
  std::vector<doorbell_mark> retry_marks;
  const void* doorbell_duty = nullptr;

  // Reporting (runtime/profile/recorder.*); meaningful only while `recording`,
  // which caches report::enabled() at the start of each attempt.
  bool recording = false;
  thread_recorder* recorder = nullptr;
  std::uint64_t attempt_start_tick = 0;
  std::uint64_t last_end_tick = 0;
  std::uint64_t irrevocable_since_tick = 0;
  site_key inevitable_key = 0;
  bool inevitable_block_only = false;
  bool inevitable_starved = false;
  site_key last_conflict_site = 0;  // kept across restarts: names what starved it
  bool last_conflict_block_only = false;
  bool conflict_recorded = false;  // the attempt being rolled back ended in a recorded conflict
  // The attempt being rolled back called retry(): the report counts it as
  // waiting for the state it wants, not as an abort (as stats() does).
  bool rollback_for_retry = false;
  bool conflict_block_only = false;
  report::conflict_kind conflict_kind = report::conflict_kind::write_read;
  std::uint64_t conflict_commit_ts = 0;
  site_key conflict_site = 0;

  // ---- shared with other threads ----------------------------------------
  // Hardware transactions: this thread's per-site policy and counters
  // (runtime/htm/site_policy.hpp); created by the owner at its first hardware
  // attempt (release), read by reports. Never freed, like the descriptor.
  std::atomic<hardware_site_table*> hardware_sites{nullptr};
  // Epoch-based reclamation: the start time of the running transaction, or
  // not_active. INVARIANT (reclaim-safe): an object retired at t is destroyed
  // only when every descriptor's active_since is >= t.
  std::atomic<std::uint64_t> active_since{not_active};
  std::atomic<bool> in_use{false};
  // The owning thread's CPU-time clock (pthread_getcpuclockid), set by the
  // owner as it registers, before the census counts it; -1: none. Auto mode's
  // controller sums these over the descriptors in use (mode_controller.cpp).
  std::atomic<int> cpu_clock{-1};
  // Serial gate (serial_mode.hpp): permit_granted once this thread may start
  // speculative attempts with only start_fence() before its gate check; a
  // serial holder that sees it revokes it (permit_revoked) and issues the
  // heavy fence, and clears it (permit_none) once it has seen the thread
  // inactive. Granted and revoked permits are counted in g_speculation_permits
  // (INVARIANT permits-counted, serial_mode.hpp).
  std::atomic<std::uint8_t> may_speculate{0};
  // Give-way (serial_mode.hpp): where a serial attempt is (serial_phase), set
  // by its owner and read by a thread that claimed its gate; taken over by
  // that thread (set by it once it has undone the attempt's writes); and
  // whether it became inevitable (then it is never taken over).
  // serial_claimed: set by the one thread that claimed this thread's serial
  // attempt; cleared by this thread once it has seen the takeover, or by the
  // claimant when the claim turned out stale (INVARIANT claim-current).
  std::atomic<bool> serial_taken_over{false};
  std::atomic<bool> serial_inevitable{false};
  transaction* next_registered = nullptr;  // immutable once published
  thread_counters counters;

  // ---- operations (runtime/stm/*.cpp) -----------------------------------
  void start(source_location site);
  [[noreturn]] void restart(abort_cause cause, const conflict_point& where = {});
  // A barrier's way to give up the attempt: restart(), unless an exception is
  // already unwinding through the attempt (a destructor is accessing
  // transactional memory): then the attempt is only marked doomed and the
  // caller answers without throwing — a second exception would terminate.
  void abandon(abort_cause cause, const conflict_point& where);
  // A serial attempt that gave way (serial_divert returned true, or auto mode
  // re-runs it irrevocably: inevitability.cpp) is now doomed: restarted now.
  // A C or GNU TM attempt (c_restart_point) rolls back and jumps to its
  // restart point, as restart() does; C++ code throws restart_signal.
  [[noreturn]] void restart_given_way();
  // The same where the C++ stack may be unwinding: then, as abandon() does,
  // the caller answers as a doomed attempt (a second exception would
  // terminate). A C or GNU TM attempt always jumps.
  void after_give_way() {
    if (c_restart_point != nullptr || !unwinding()) restart_given_way();
  }
  // A doomed attempt (marked while a destructor ran, or given way) found by a
  // later access, commit or block: restarted now — rolled back with a jump
  // for a C or GNU TM attempt, whose C frames cannot pass restart_signal
  // (INVARIANT cxx-inside-c: inside a C++ block nested in one, the restart
  // point is stashed and this throws), else by throwing restart_signal.
  [[noreturn]] void restart_lost() { restart_given_way(); }
  // The outermost C or GNU TM transaction's restart point, also while a C++
  // block nested in it runs (stashed: INVARIANT cxx-inside-c); nullptr if the
  // outermost level is a C++ block's.
  sigjmp_buf* outer_restart_point() const noexcept {
    if (c_restart_point != nullptr) return c_restart_point;
    for (const nesting_level& level : nesting) {
      if (level.c_restart_point != nullptr) return level.c_restart_point;
    }
    return nullptr;
  }
  int uncaught_exceptions_now() const noexcept {
    return uncaught_count != nullptr ? static_cast<int>(*uncaught_count)
                                     : std::uncaught_exceptions();
  }
  bool unwinding() const noexcept { return uncaught_exceptions_now() > unwinding_base; }
  void rollback() noexcept;  // undo the attempt after restart_signal reached the outermost block
  void commit();             // outermost commit; may throw restart_signal
  void finish_committed();   // bookkeeping after a successful commit
  // INVARIANT (logs-bounded): a thread's logs keep their buffers from one
  // block to the next (no allocation per block), but not what one huge block
  // needed: every log_trim_period commits, a buffer past log_trim_entries is
  // freed (the logs are empty then), so what a thread holds between blocks
  // stays bounded. A thread that keeps running huge blocks regrows the
  // buffers at most once per period, in blocks that do as much work again.
  // Before, one rehash of a map of 2^20 keys left 24 MiB of read set with
  // the thread for ever (with each oneTBB worker that ran one).
  static constexpr std::uint32_t log_trim_period = 256;
  static constexpr std::size_t log_trim_entries = std::size_t{1} << 16;
  std::uint32_t commits_until_trim = log_trim_period;
  void trim_logs_if_due() noexcept {
    if (--commits_until_trim == 0) [[unlikely]]
      trim_logs();
  }
  void trim_logs() noexcept;
  void put_back_sites() noexcept;
  [[gnu::noinline, gnu::cold]] void wake_then_trim_logs(std::size_t written) noexcept;
  void leave_committed() noexcept;  // the last step of every commit (below)

  std::uint64_t read(std::uintptr_t word, std::uint64_t mask, source_location site);
  void write(std::uintptr_t word, std::uint64_t value, std::uint64_t mask, source_location site);

  // Moves the snapshot to now if every read is still valid; else returns the
  // first read that is not (and leaves the snapshot).
  // `version` is the newest version seen (the clock is raised to it first:
  // the shared clock if `shared`, INVARIANT two-clocks).
  const read_entry* try_extend(std::uint64_t version, bool shared = false) noexcept;
  const read_entry* first_invalid() const noexcept;
  void revalidate();  // extend to now, or restart: the attempt then serialises after now
  void become_irrevocable(source_location site);
  // A serial attempt becomes inevitable in place: it no longer gives way (a
  // claimant waits for its commit; serial_mode.hpp). false, with nothing
  // marked, if it was taken over first: it is then a doomed speculative
  // attempt, its writes undone (serial_divert).
  bool serial_become_inevitable(source_location site) noexcept;
  void reserve(orec& lock);  // irrevocable mode: stop committers from taking `lock`

  // Serial mode (runtime/stm/serial_mode.cpp): start an outermost attempt
  // under the gate; commit it (stamps the orecs of its in-place writes, wakes
  // waiters, opens the gate, then ends it as finish_committed() would; may
  // throw what an on-commit action throws, like commit()); or undo its writes
  // and open the gate (rollback).
  transaction& start_serial(source_location site);  // returns *this
  transaction& start_serial_general(source_location site);
  transaction& start_serial_walk(source_location site);
  void start_serial_observed(source_location site);
  void enter_serial(source_location site);
  void enter_serial_fields(source_location site, int uncaught);
  bool enter_serial_user_code();
  transaction& enter_serial_after_stale_claim() noexcept;
  void commit_serial();
  void commit_serial_general();
  void undo_serial() noexcept;

  void open_nested(bool from_c = false);
  void commit_nested() noexcept;
  void rollback_nested() noexcept;

  // The checks and marking of optimist::retry() / optimist_tx_retry() (after
  // the caller has checked that a transaction runs and is not doomed). May
  // throw std::bad_alloc before marking anything.
  // `deadline_ns`: retry_until's (steady_now_ns), 0 for retry(); noted in
  // retry_deadline_ns only once the attempt is marked.
  retry_refusal prepare_retry(source_location site, std::uint64_t deadline_ns = 0);
  // After retry_signal reached the outermost block (runtime/stm/retry.cpp):
  // rolls the attempt back, keeping its read set in retry_reads; then, unless
  // retry_propagates, waits for a commit to change something read. Returns
  // true if the block should run again, false if the signal must propagate.
  bool finish_retry() noexcept;

  // internal steps of the above
  void commit_writer();
  void commit_irrevocable();
  void release_locks() noexcept;
  void wake_waiters_of_locks() noexcept;  // after a commit unlocked `locks` (retry_wait.cpp)
  void release_reservations() noexcept;
  void discard_attempt() noexcept;
  void destroy_lost_objects() noexcept;  // INVARIANT rerun-kept (commit.cpp)
};

// The thread's running transaction, or nullptr. Constant-initialised so that
// reading it costs one fs-relative load.
[[gnu::tls_model("initial-exec")]] inline thread_local transaction* tls_current = nullptr;

// The last step of a committed outermost attempt (commit.cpp, serial_mode.cpp):
// this thread is outside any transaction again. INVARIANT reclaim-safe: the
// start time is withdrawn last (release), after everything the attempt read.
inline void transaction::leave_committed() noexcept {
  depth = 0;
  mode = tx_mode::optimistic;
  consecutive_aborts = 0;
  last_conflict_site = 0;
  c_restart_point = nullptr;
  tls_current = nullptr;
  tls_serial_direct = nullptr;  // INVARIANT direct-serial
  active_since.store(not_active, std::memory_order_release);
}

}  // namespace optimist::detail
