// The state behind an optimist::task_queue and the protocol of a run.
//
// Between runs, tasks wait in `waiting_`, a vector any thread appends to under
// a oneTBB spin_mutex, the add lock (an append is a few nanoseconds; adding a
// million tasks is the sequential part of every loop). The tasks themselves
// are built in place, under the same lock, in `storage_` (task_storage.hpp),
// except those added inside a transaction or too large for it, which live on
// the heap. A run takes them all at once, in order, by swapping that vector
// with `batch_` — a vector only this run touches — and the storage with
// `batch_storage_`, then starts one worker loop per thread on a oneTBB
// task_arena. Each task gets a ticket: batch task i has ticket i; the j-th task
// added by the run's own tasks (published when the adding transaction
// commits) goes to `spawned_` slot j with ticket batch size + j. Workers claim
// tickets and execute each task in its own transaction; the run ends when no
// task is outstanding (published and not finished).
//
// Unordered mode: workers claim batch tickets in chunks from one counter
// (a single atomic add per chunk, no queue traffic per task), then spawned
// tickets one by one.
// Ordered mode: tickets are turns. A worker claims the next turn only once it
// has been published; a task may commit only at its turn (next_commit ==
// turn). It runs speculatively, waits for its turn at the end of its body,
// then revalidates what it read against everything committed before it and
// either commits or re-runs. A task that has failed twice waits for its turn
// before running again.
//
// Segments (add_task in a loop): consecutive adds of one kind of trivially
// destructible task are built one after the other in storage_ and queued not
// as slots but as one range_entry whose body (storage_segment,
// task_queue.cpp) runs element i at first + i * sizeof(task): a run splits,
// groups and gives back a segment exactly like an add_tasks range.
// INVARIANT (segment-is-contiguous): an add joins the open segment only if it
// is of the same kind (segment_ops_) and its memory is exactly segment_next_;
// anything else queued (a slot, a range, a run taking the queue, a requeue)
// closes the segment first (segment_ops_ = nullptr).
// The add lock is biased toward the adding thread (add_bias.hpp, INVARIANT
// bias-excludes): every holder of waiting_mutex_ revokes another thread's
// bias before touching what the lock guards.
//
// Bulk adds (add_tasks): a range of elements is not a task per element but
// one entry in `waiting_ranges_` — its body (range_task_base: the callable),
// the element interval, and where it sits among the single tasks (before the
// waiting_ slot `slot_before`). A run numbers tickets in that order: a
// range's elements get consecutive tickets. Workers claim tickets as before
// and find what a ticket is (place_of: a binary search over the run's few
// ranges) — a single task's slot or an element of a range — so a range is
// split lazily into the same chunks as single tasks, one atomic add per chunk.
// Elements are run by index (task_ref); only an element that must outlive its
// turn in the run (set aside by retry(), blocked at its turn) becomes a task
// of its own (range_element, on the heap). A run that stops early gives the
// range elements it did not start back as new ranges (pieces of the same
// body), in ticket order among the single tasks (INVARIANT nothing-lost);
// what a worker leaves of a claimed chunk it records in unstarted_intervals_.
// Bodies are reference counted by the entries and element tasks that refer
// to them, never per element run.
//
// INVARIANT (run-owns-its-tasks): a run executes exactly the tasks queued when
// it started and the tasks its own tasks add; a task that another thread adds
// meanwhile goes to `waiting_` for the next run.
// INVARIANT (turns-are-running): turns are claimed in order and only once
// published, so every turn below the highest claimed one belongs to a task a
// worker is executing: the lowest uncommitted turn always makes progress.
// INVARIANT (inevitable-at-turn): in ordered mode a task takes the
// inevitability token only at its turn (transaction::before_irrevocable), so
// the token holder never waits for an earlier task.
// INVARIANT (published-slots-are-built): spawned_published_ counts only slots
// that are fully built and filled (publications take publish_mutex_), so a
// worker touches a spawned slot only after the count covering it.
// Retry (parked_tasks.hpp): in unordered mode a task whose transaction calls
// optimist::retry() is set aside in parked_ and its worker moves on; a commit
// to what it read puts it back (outstanding again) and a worker runs it anew.
// A run that ends with tasks still parked (nothing outstanding could wake
// them) puts them back into their ticket slots, requeues them with the
// unstarted ones and throws optimist::tasks_blocked. In ordered mode a task
// that still retries at its turn (revalidated: everything before it has
// committed, nothing after it may commit first) blocks the run at once: it
// stops as for an exception.
//
// Task groups (task_group_size): a worker may run consecutive tasks as one
// transaction. INVARIANT (group-is-its-turns): in ordered mode a group is a
// run of consecutive turns committed at its first turn and handed on past its
// last. INVARIANT (group-is-its-tasks): in unordered mode only consecutive
// tasks of one claimed chunk are grouped — elements of one range, or single
// tasks in consecutive batch_ slots (add_task in a loop) — and a grouped single
// task stays in its slot until its group has committed or it has run alone. In both, a task that
// throws, retries or becomes inevitable rolls its group back before anything irrevocable and the
// group's tasks run one transaction each (runtime/tasks/task_queue.cpp).
//
// INVARIANT (stopped-turn-is-last): in ordered mode a run stops only at a
// turn — the task whose turn it is throws or blocks — and that turn is never
// handed on (stop_turn_). Every later task that is running rolls back (its
// wait for its turn ends unanswered) and is put back into its ticket slot, so
// nothing after the stopping task commits in this run: the next run goes on
// exactly where the sequential loop stopped.
//
// INVARIANT (one-committer-per-turn): in ordered mode a turn is committed by
// whoever claims it: next_commit_ holds the next turn to commit, and a thread
// that finds it there sets turn_held_bit on it (one CAS) before it revalidates
// and commits; it then only commits (handing on past its last turn, which
// clears the bit) or stops the run (the bit stays, INVARIANT
// stopped-turn-is-last), or — a group falling back to single turns, a helper
// giving up — puts the same turn back unchanged, having committed nothing.
// INVARIANT (helped-turns-are-elements): an ordered group that waits for a
// turn that has not moved for a while (its holder is descheduled, or slow)
// may help: it rolls back and runs the stalled turns [s, first) before its
// own in one transaction, and commits them all if it claims turn s before
// their owners do. It helps only turns that are all range elements of the
// batch (run by index, never taken from a slot, nothing to end), and [s,
// first) holds whole groups of other workers (a group extends only while it
// is the last claimed, and first was claimed after them): an owner that finds
// its turn passed (next_commit_ beyond it) drops its attempt, its tasks done.
// A helped task that would throw, retry or become inevitable ends the help,
// with the turn unchanged: its owner settles it at its turn.
//
// INVARIANT (serial-turn-first): in ordered mode a block that may run
// serially holds its turn before it starts: a serial block excludes every
// other thread (the gate), so it must never wait for an earlier turn, whose
// owner could not run. Its block therefore never waits at all. A speculative
// attempt that waits for its turn inside its block while a serial block holds
// the gate rolls back instead (turn_wait::yield), without counting as a lost
// attempt: the serial block waits for every running speculator to leave
// (serial_mode.cpp), and may be the block whose commit that turn waits for.
// Its re-run waits at the gate, as any speculative start does.
// INVARIANT (nothing-lost): a task pointer lives in exactly one of waiting_,
// batch_, spawned_, parked_ or a worker executing it; a run that stops early puts every
// task it did not start back at the head of waiting_, in ticket order, and
// its storage back into storage_ (INVARIANT storage-outlives-tasks,
// task_storage.hpp).
#pragma once

#include <tbb/concurrent_vector.h>
#include <tbb/spin_mutex.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "optimist/mode.hpp"
#include "optimist/tasks.hpp"
#include "tasks/add_bias.hpp"
#include "tasks/parked_tasks.hpp"
#include "tasks/serial_lane.hpp"
#include "tasks/task_storage.hpp"

namespace optimist::detail {

// One entry of the waiting and batch vectors. The empty constructor leaves it
// uninitialised on purpose: making room for a million adds then fills no
// memory (an entry is written before it is read: waiting_count_ says which).
struct task_slot {
  task_slot() noexcept {}                        // NOLINT: deliberately uninitialised
  task_slot(task_base* t) noexcept : task(t) {}  // NOLINT: implicit
  task_base* task;
};

// add_tasks: `count` elements of `body` from element `begin`, placed before
// the single task in slot `slot_before` of the same queue (or run); holds one
// reference of body. first_ticket is set when a run takes it.
struct range_entry {
  std::size_t slot_before;
  range_task_base* body;
  std::uint64_t begin;
  std::uint64_t count;
  std::uint64_t first_ticket;
};

// What a ticket runs: a single task, or element `index` of a range body.
struct task_ref {
  task_base* task;
  range_task_base* body;
  std::uint64_t index;
  void run() const {
    if (task != nullptr) {
      task->run();
    } else {
      body->run_element(index);
    }
  }
};

// An element of a range as a task of its own (it holds a reference of body).
task_base* make_element_task(range_task_base& body, std::uint64_t index);

// How many consecutive tasks one worker runs as one transaction: in ordered
// mode, turns it claims and commits as a group (one hand-over of the turn,
// INVARIANT group-is-its-turns); in unordered mode, elements of one range
// (INVARIANT group-is-its-tasks). Per worker: doubles up to `limit`
// (max_turn_group; ordered runs: max_ordered_group) while groups
// commit at their first attempt, halves when one conflicts, and drops to 1
// when one must be split into single turns (a task threw, retried or became
// inevitable) — trying 2 again after grow_after single tasks.
inline constexpr std::uint64_t max_turn_group = 64;
// Ordered groups grow larger: each hands the turn on once, and a hand-over
// can cost a wait for a thread that is not running (tasks_bench, train and
// interest at two threads on a busy machine: ordered/unordered 2.2-3.9x with
// groups of at most 64 before helping, 1.7-2.1x with 128). Not larger: on a
// quiet machine groups of 256 made train's write-heavy sweeps conflict more
// (1.3x -> 1.7x).
inline constexpr std::uint64_t max_ordered_group = 128;
// An ordered group that would wait for its turn claims the turns after it
// instead (extend_ordered_group), up to this many in all.
inline constexpr std::uint64_t max_extended_group = 256;
static_assert(max_ordered_group <= max_extended_group, "a claimed group fits its task array");
// slow: committed at its first attempt, but ran longer than max_group_ticks
// (unordered groups only): tasks that long gain little from sharing a
// transaction, and a long group is a long window for conflicts — on a hot key
// a whole group re-runs where single tasks rarely would.
// serial: committed at its first attempt as a serial block (unordered groups
// only). Nothing could conflict with it, and a longer group only holds the
// gate longer for what it would have held it anyway, so it grows past
// max_turn_group (to max_serial_group) and its length does not count.
enum class group_outcome { first_try, conflicted, split, slow, serial };

// Test seam: when >= 0, the number of task publications (adds, or the
// commits of blocks that added tasks) that succeed before one fails with
// std::bad_alloc, as if out of memory; later ones succeed. Negative (off)
// but in tests.
inline std::atomic<long> g_publications_before_failure{-1};
// Serial groups grow up to a whole chunk of tickets (claim_chunk in
// task_queue.cpp): each group's block costs its start and commit (tasks_bench
// interest at 1 worker: about 4 ns per element with groups of 64).
inline constexpr std::uint64_t max_serial_group = 512;
// About 0.8 µs at 3 GHz (time-stamp counter ticks; steady_clock nanoseconds
// where there is none): enough to spread a transaction's fixed cost over tens
// of tiny tasks; tasks of a microsecond or more (word_frequency's lines) run
// one per transaction, where bigger read and write logs cost more than the
// commits saved.
inline constexpr std::uint64_t max_group_ticks = 2'500;
struct task_group_size {
  static constexpr std::uint64_t grow_after = 16;
  // Starts at one task per transaction: a run of a few tasks spreads them over
  // its workers; a long one reaches max_turn_group within ~25 transactions.
  std::uint64_t size = 1;
  std::uint64_t singles = 0;
  std::uint64_t limit = max_turn_group;
  void done(group_outcome outcome) noexcept {
    if (outcome == group_outcome::serial) {
      size = size * 2 > max_serial_group ? max_serial_group : size * 2;
    } else if (outcome == group_outcome::first_try) {
      size = size * 2 > limit ? limit : size * 2;
    } else if (outcome == group_outcome::conflicted || outcome == group_outcome::slow) {
      size = size > 1 ? size / 2 : 1;
      if (size == 1) singles = 0;
    } else {
      size = 1;
      singles = 0;
    }
  }
  void single_done() noexcept {
    if (++singles >= grow_after) {
      size = 2;
      singles = 0;
    }
  }
};

class task_queue_state {
 public:
  ~task_queue_state();

  // Makes `task` (a heap task, owned from now on) available: to this queue's
  // running run if called from one of its tasks, else to the next run.
  void publish(task_base* task);

  // The storage path of task_queue::add (see there).
  void* begin_add(std::size_t size, std::size_t alignment, const task_ops* element_ops);
  void end_add(task_base& task) noexcept;
  void cancel_add(void* memory) noexcept;

  // add_tasks outside any transaction: takes over body's reference.
  void add_range(range_task_base& body, std::uint64_t count);

  void run(const run_options& options, source_location site);

  std::size_t pending() const noexcept {
    return waiting_count_.load(std::memory_order_relaxed) +
           waiting_range_elements_.load(std::memory_order_relaxed) +
           run_pending_.load(std::memory_order_relaxed);
  }

 private:
  struct worker;
  void work();  // one worker's loop
  // Where batch ticket `ticket` lives: element `at` of `range`, or (range
  // nullptr) batch_ slot `at`.
  struct ticket_place {
    const range_entry* range;
    std::uint64_t at;
  };
  ticket_place place_of(std::uint64_t ticket) const noexcept;
  task_ref take(std::uint64_t ticket);
  // take() for consecutive tickets [first, first + count) into out: one
  // lookup per range they cross, not one per ticket (ordered groups).
  void take_consecutive(std::uint64_t first, std::uint64_t count, task_ref* out);
  std::uint64_t run_chunk(std::uint64_t first, std::uint64_t last, transaction& self,
                          task_group_size& group);
  std::uint64_t run_singles(std::uint64_t slot, std::uint64_t ticket, std::uint64_t count,
                            transaction& self, task_group_size& group);
  group_outcome execute_range_group(range_task_base& body, std::uint64_t index, std::uint64_t count,
                                    transaction& self);
  // Runs run_tasks() (consecutive tasks of one chunk) as one transaction;
  // split: rolled back, the caller runs them one transaction each.
  template <class RunTasks>
  group_outcome execute_group(RunTasks run_tasks, transaction& self);
  void execute(const task_ref& task, transaction& self, std::uint64_t ticket);
  void execute_ordered(const task_ref& task, std::uint64_t turn);
  // serially: the blocks run serially (serial mode, auto mode's verdict):
  // the group waits for its turn before its block (INVARIANT
  // serial-turn-first).
  group_outcome execute_ordered_group(std::uint64_t first, std::uint64_t& count, bool serially);
  bool extend_ordered_group(std::uint64_t first, std::uint64_t& count, task_ref* tasks);
  struct group_fallback;
  static void group_fallback_hook(void* context);
  bool set_aside(const task_ref& task, transaction& self, std::uint64_t ticket);
  void record_unstarted(std::uint64_t first, std::uint64_t last) noexcept;
  void put_back_returned(std::uint64_t ticket, task_base* task);
  // Ordered mode: waits until `turn` may commit (true), or returns false when
  // an earlier turn stopped the run (INVARIANT stopped-turn-is-last).
  // Ordered mode (INVARIANT one-committer-per-turn): waits until `turn` is
  // the next to commit and claims it for this thread (`held` remembers a claim
  // across attempts; a thread holding it only commits or stops the run).
  // stopped: an earlier turn stopped the run (INVARIANT stopped-turn-is-last);
  // passed: a helper committed the turn (INVARIANT helped-turns-are-elements);
  // stalled (only with `stalled_at`): the next turn to commit, *stalled_at,
  // has not moved for `patience` ticks and nobody holds it.
  // yield: called inside a speculative software attempt while a serial block
  // holds the gate; the attempt must roll back (INVARIANT serial-turn-first).
  enum class turn_wait { claimed, stopped, passed, stalled, yield };
  turn_wait wait_for_turn(std::uint64_t turn, bool& held, std::uint64_t* stalled_at = nullptr,
                          std::uint64_t patience = 0) noexcept;
  bool turn_has_passed(std::uint64_t turn) const noexcept {
    return (next_commit_.load(std::memory_order_acquire) & ~turn_held_bit) > turn;
  }
  // Whether turns [from, to) are all elements of the run's ranges (which a
  // helper may run without taking them from anyone), and runs them.
  bool turns_are_elements(std::uint64_t from, std::uint64_t to) const noexcept;
  void reach_turn_or_help(std::uint64_t first, bool& held, bool& may_help, std::uint64_t& help_from,
                          std::uint64_t ran_ticks);
  bool help_stalled(std::uint64_t from, std::uint64_t to) noexcept;
  void run_elements(std::uint64_t from, std::uint64_t to);
  void put_back(const task_ref& task, std::uint64_t ticket) noexcept;
  void record_error(std::exception_ptr error);
  void requeue_unstarted(bool tasks_put_back);
  [[gnu::always_inline]] void* try_add_in_place(std::size_t size, std::size_t alignment,
                                                const task_ops* element_ops) noexcept;
  void* begin_add_slow(bool locked, std::size_t size, std::size_t alignment,
                       const task_ops* element_ops);
  void make_room_to_wait();  // under the add lock; may throw std::bad_alloc
  // The add lock for everything but begin_add's fast path: takes
  // waiting_mutex_ and revokes another thread's bias (add_bias.hpp).
  struct add_lock {
    explicit add_lock(task_queue_state& q) : queue(q) {
      queue.waiting_mutex_.lock();
      queue.bias_.locked(/*add=*/false);
    }
    ~add_lock() { queue.waiting_mutex_.unlock(); }
    add_lock(const add_lock&) = delete;
    add_lock& operator=(const add_lock&) = delete;
    task_queue_state& queue;
  };
  // Ends begin_add's critical section, entered through the bias or the lock.
  void unlock_add() noexcept {
    if (adding_biased_) {
      adding_biased_ = false;
      bias_.leave();
    } else {
      waiting_mutex_.unlock();
    }
  }
  static void wait_for_turn_hook(void* context);

  // Members are grouped by who writes them, a cache line apart, so that the
  // per-task reads of one group never miss because of writes to another.

  // Written by adding threads (also while a run is going on).
  tbb::spin_mutex waiting_mutex_;  // the add lock, biased toward the adding thread:
  add_bias bias_;                  // every holder of waiting_mutex_ calls bias_.locked()
  bool adding_biased_ = false;     // guarded by the add lock: entered through the bias
  // Guarded by the add lock: the queue this thread was building a task for when
  // this add began (a task's copy constructor that adds here while building one
  // for it), put back into tls_adding_to when this add ends. Before, the end put
  // back no queue, and the builder's own queue no longer refused its adds.
  const task_queue_state* outer_adding_to_ = nullptr;
  bool building_a_task() const noexcept;
  // The open segment (task_queue.cpp, storage_segment): the last entry of
  // waiting_ranges_, whose tasks (of kind segment_ops_) end at segment_next_;
  // nullptr when anything else was queued after it. Guarded by the add lock.
  const task_ops* segment_ops_ = nullptr;
  std::byte* segment_next_ = nullptr;
  bool adding_to_segment_ = false;  // begin_add placed the task in the open segment
  // The first waiting_count_ entries are the waiting tasks; the rest is room
  // for more (appending is then a store, not a push_back).
  std::vector<task_slot> waiting_;  // guarded by waiting_mutex_
  task_storage storage_;            // guarded by waiting_mutex_
  // pending() = waiting_count_ + run_pending_. waiting_count_ is written only
  // under the add lock (no read-modify-write per add); run_pending_ counts the
  // running run's tasks not yet started.
  std::atomic<std::size_t> waiting_count_{0};
  std::vector<range_entry> waiting_ranges_;             // guarded by waiting_mutex_; in add order
  std::atomic<std::size_t> waiting_range_elements_{0};  // their elements, for pending()
  std::atomic<bool> running_{false};
  // The line that called run(): the site of the run's atomic blocks (its
  // tasks carry none of their own), which reports name. Set before the
  // workers start.
  source_location run_site_;
  template <class F>
  void run_atomically(F&& f) {
    atomically(std::forward<F>(f), run_site_);
  }

  // Per run (reset by run()), then only read by the workers.
  alignas(64) bool ordered_ = false;
  unsigned threads_ = 1;
  std::optional<execution_mode> mode_;  // run_options::mode: each of the run's threads uses it
  std::atomic<bool> stopping_{false};   // written when a task throws or blocks an ordered run
  // Ordered runs: the task holding the current turn sleeps in retry_until
  // (execute_ordered), so no turn is handed on before its deadline or a
  // commit from outside the run: workers waiting for a turn, or with nothing
  // to claim, nap instead of spinning meanwhile.
  std::atomic<bool> turn_holder_sleeps_{false};
  std::vector<task_slot> batch_;           // entries become nullptr when taken
  task_storage batch_storage_;             // where batch_'s storage tasks live
  std::vector<range_entry> batch_ranges_;  // first_ticket set, in ticket order
  std::uint64_t batch_tickets_ = 0;        // batch_ slots plus range elements
  // Range elements given back during the run (ticket intervals), and range
  // elements that became tasks and came back (set aside, blocked): requeued by
  // requeue_unstarted. unstarted_intervals_ has room reserved before the run
  // for what a worker gives back once the run stops (at most once: a chunk's
  // rest, or the tasks of one ordered turn group) and the unclaimed tail.
  std::mutex unstarted_mutex_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> unstarted_intervals_;
  std::vector<std::pair<std::uint64_t, task_base*>> returned_elements_;

  // Per run, written by the workers.
  alignas(64) tbb::concurrent_vector<std::atomic<task_base*>> spawned_;
  tbb::spin_mutex publish_mutex_;  // serialises publications into spawned_
  bool spawned_broken_ = false;    // under publish_mutex_: a grow_by failed this run (publish)
  alignas(64) std::atomic<std::uint64_t> next_batch_{0};    // unordered: next batch ticket
  alignas(64) std::atomic<std::uint64_t> next_spawned_{0};  // unordered: next spawned index
  alignas(64) std::atomic<std::uint64_t> next_turn_{0};     // ordered: next turn to claim
  alignas(64) std::atomic<std::uint64_t> spawned_published_{0};
  alignas(64) std::atomic<std::uint64_t> outstanding_{0};
  std::atomic<std::size_t> run_pending_{0};  // settled together with outstanding_
  // Ordered mode: the next turn to commit, with turn_held_bit set while a
  // thread holds it (INVARIANT one-committer-per-turn).
  alignas(64) std::atomic<std::uint64_t> next_commit_{0};
  static constexpr std::uint64_t turn_held_bit = std::uint64_t{1} << 63;
  // Ordered mode: the turn whose task stopped the run (threw or blocked at
  // its turn); no_stop_turn while none did.
  static constexpr std::uint64_t no_stop_turn = ~std::uint64_t{0};
  std::atomic<std::uint64_t> stop_turn_{no_stop_turn};
  serial_lane lane_;                   // unordered runs of serial blocks (serial_lane.hpp)
  parked_tasks parked_{outstanding_};  // tasks that called optimist::retry()
  std::mutex error_mutex_;
  std::exception_ptr first_error_;

  // The arena of unpinned runs, kept for the next run with as many threads.
  std::unique_ptr<tbb::task_arena> arena_;
  unsigned arena_threads_ = 0;
};

}  // namespace optimist::detail
