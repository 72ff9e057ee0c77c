#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <tbb/task_scheduler_observer.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "htm/hardware_mode.hpp"
#include "optimist/atomically.hpp"
#include "optimist/tasks.hpp"
#include "profile/recorder.hpp"
#include "profile/site_key.hpp"
#include "stm/contention_manager.hpp"
#include "stm/mode_controller.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"
#include "tasks/task_queue_state.hpp"
#include "tasks/topology.hpp"
#include "tasks/tsan_handoff.hpp"

namespace optimist {

namespace detail {

namespace {

// The queue whose task this thread is executing, or nullptr. (initial-exec:
// the library is position-independent, and the default model would make each
// access a call to __tls_get_addr — twice per task.)
[[gnu::tls_model("initial-exec")]] thread_local task_queue_state* tls_running_queue = nullptr;

// The queue whose add lock this thread holds while it builds a task: building
// it must not add to the same queue (the lock is not recursive). Each such
// queue keeps the one whose task was being built when its add began
// (outer_adding_to_), so the chain of adds in progress on this thread is
// tls_adding_to, its outer_adding_to_, and so on (each link written only by
// this thread, under that queue's add lock).
[[gnu::tls_model("initial-exec")]] thread_local const task_queue_state* tls_adding_to = nullptr;

[[noreturn]] void throw_add_while_building() {
  throw std::logic_error(
      "optimist::add_task: called while a task for the same queue is being built (from the copy "
      "or move constructor of a task or of its arguments)");
}

void destroy_task(void* task) noexcept {
  static_cast<task_base*>(task)->destroy();
}

// A cheap clock for sizing task groups (max_group_ticks): the time-stamp
// counter where there is one.
std::uint64_t ticks_now() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
#endif
}

// Whether this worker's next block runs serially (the lane is for those:
// serial_lane.hpp). thread_runs_serial reads OPTIMIST_MODE the first time and
// throws on a bad value; the block itself then reports it as the task's
// error, so here it only means "not serially".
bool blocks_run_serially(const transaction& self) noexcept {
  try {
    return thread_runs_serial(self);
  } catch (...) {
    return false;
  }
}

// Tasks a worker runs before it settles the shared counters (ordered turns,
// spawned and woken tasks, which are claimed one by one).
constexpr std::uint64_t batch_chunk = 32;

// The most batch tickets a worker claims at once in unordered mode: one atomic
// add (and one settling of the shared counters) per chunk instead of one
// queue operation per task. Chunks shrink to a quarter of each worker's share
// of what is left (guided, like tbb::parallel_for's partitioner), so the last
// tasks still spread over every worker; 512 keeps the three read-modify-writes
// on lines every worker writes below a nanosecond per tiny task, where 32 cost
// several at two threads.
constexpr std::uint64_t claim_chunk = 512;

// Slot vectors up to this many entries (8 MiB) are kept from run to run for
// the next adds; larger ones are freed after their run.
constexpr std::size_t retained_slots = std::size_t{1} << 20;

struct turn_context {
  task_queue_state* queue;
  std::uint64_t turn;
  bool* held;  // the task holds its turn (task_queue_state::wait_for_turn)
};

// How long an ordered group waits for a turn that does not move before it
// helps (INVARIANT helped-turns-are-elements): about 80 µs at 2.5 GHz, far
// longer than a group of tiny tasks runs, far shorter than the time slice a
// descheduled thread waits for on a busy machine — the case it is for: the
// thread whose turn it is cannot run, and every later one would wait for it.
// At least a few times what the waiting group itself took to run, so that a
// run of longer tasks is not taken over while it runs.
constexpr std::uint64_t help_patience_ticks = 200'000;
// The most turns of other groups a group runs for them (helps).
constexpr std::uint64_t max_helped_turns = 4096;
// A wait for a turn spins this long (about 2 µs) before it yields the core:
// the turn is held by a running task (INVARIANT turns-are-running) and
// usually comes within a group's run; if it does not, its holder may well be
// waiting for this very core (more threads than cores, a busy machine), and
// spinning on would only keep it off.
constexpr std::uint64_t spin_before_yield_ticks = 4'000;

// Binds each thread that enters the arena to a core of its own, and gives it
// its old binding back when it leaves: the calling thread and oneTBB's workers
// live on after the run, and must not stay bound to one core.
class pinning_observer final : public tbb::task_scheduler_observer {
 public:
  // oneTBB calls the callbacks on its workers from inside the uninstrumented
  // library: the hand-off of this object is annotated (tsan_handoff.hpp).
  explicit pinning_observer(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) {
    handoff_release(this);
    observe(true);
  }
  ~pinning_observer() override {
    observe(false);
    handoff_acquire(this);
  }
  void on_scheduler_entry(bool is_worker) override {
    handoff_acquire(this);
    if (is_worker) workers_inside_.fetch_add(1, std::memory_order_relaxed);
    int index = tbb::this_task_arena::current_thread_index();
    if (index >= 0) pin_this_thread_to_core(static_cast<unsigned>(index));
  }
  void on_scheduler_exit(bool is_worker) override {
    handoff_acquire(this);
    restore_this_thread_binding();
    if (is_worker) workers_inside_.fetch_sub(1, std::memory_order_release);
    handoff_release(this);
  }
  // The calling thread leaves (and is restored) when arena.execute returns;
  // workers leave a little later, on their own, and are only told while this
  // observer observes: wait for them (a few hundred microseconds, bounded).
  void wait_for_workers_to_leave() const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (workers_inside_.load(std::memory_order_acquire) > 0 &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
  }

 private:
  std::atomic<int> workers_inside_{0};
};

// oneTBB starts no more workers than max_allowed_parallelism allows (by
// default the hardware concurrency), and a run may ask for more. The limit is
// raised once for the whole process and never changed again; each run's
// task_arena keeps it at its own size. (One global_control per run, set to the
// run's thread count, changed the limit at every run: on oneTBB 2021.8 the
// workers of the previous arena still count against the limit while they
// leave, so the next runs got fewer workers than they asked for — often none,
// silently running a 2-thread run on one thread.)
constexpr std::size_t parallelism_ceiling = max_threads;  // as run_options::threads allows

void allow_runs_their_workers() {
  static const tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                                         parallelism_ceiling);
}

}  // namespace

namespace {

// An element of an add_tasks range as a task of its own (it holds a
// reference of the range's body).
class range_element final : public task_base {
  static void run_element(task_base& task) {
    auto& self = static_cast<range_element&>(task);
    self.body_.run_element(self.index_);
  }
  static void delete_element(task_base& task) noexcept {
    delete &static_cast<range_element&>(task);
  }
  static constexpr task_ops ops{&run_element, &delete_element, nullptr};

 public:
  range_element(range_task_base& body, std::uint64_t index) noexcept
      : task_base(ops), body_(body), index_(index) {
    body_.retain();
  }
  ~range_element() { body_.release(); }
  range_element(const range_element&) = delete;
  range_element& operator=(const range_element&) = delete;

 private:
  range_task_base& body_;
  std::uint64_t index_;
};

// Runs tasks[from, to) in order; consecutive elements of one range in one
// call (range_task_base::run_elements).
void run_in_order(const task_ref* tasks, std::uint64_t from, std::uint64_t to) {
  while (from < to) {
    const task_ref& first = tasks[from];
    if (first.task != nullptr) {
      first.task->run();
      ++from;
      continue;
    }
    std::uint64_t end = from + 1;
    while (end < to && tasks[end].task == nullptr && tasks[end].body == first.body &&
           tasks[end].index == first.index + (end - from)) {
      ++end;
    }
    first.body->run_elements(first.index, end - from);
    from = end;
  }
}

}  // namespace

task_base* make_element_task(range_task_base& body, std::uint64_t index) {
  return new range_element(body, index);
}

namespace {

// A segment: consecutive add_task calls of one kind of trivially
// destructible task, built one after the other in the queue's task storage
// (stride = the task's size). The queue keeps it as a range (range_entry):
// a run splits it, groups it, and gives its unstarted elements back exactly
// as for add_tasks, with no slot per task. The body lives in the storage too
// and holds nothing: ending it is a no-op, and the storage is released only
// after every range that refers to it (INVARIANT storage-outlives-tasks).
class storage_segment final : public range_task_base {
  static void run_element(range_task_base& range, std::uint64_t index) {
    auto& self = static_cast<storage_segment&>(range);
    std::launder(reinterpret_cast<task_base*>(self.first_ + index * self.stride_))->run();
  }
  static void run_elements(range_task_base& range, std::uint64_t first, std::uint64_t count) {
    auto& self = static_cast<storage_segment&>(range);
    // Every element is of the kind element_ops_ (INVARIANT segment-is-contiguous).
    self.element_ops_->run_consecutive(self.first_ + first * self.stride_, count);
  }
  static void end(range_task_base&) noexcept {}
  static constexpr range_ops ops{&run_element, &run_elements, &end};

 public:
  storage_segment(std::byte* first, std::size_t stride, const task_ops& element_ops) noexcept
      : range_task_base(ops), first_(first), stride_(stride), element_ops_(&element_ops) {}

  // Where element `index` lives (in the queue's task storage).
  std::uintptr_t element_address(std::uint64_t index) const noexcept {
    return reinterpret_cast<std::uintptr_t>(first_ + index * stride_);
  }

 private:
  std::byte* first_;
  std::size_t stride_;
  const task_ops* element_ops_;
};

}  // namespace

// True while this thread builds a task for this queue, directly or through
// adds to other queues that its copy constructor made.
inline bool task_queue_state::building_a_task() const noexcept {
  for (const task_queue_state* q = tls_adding_to; q != nullptr; q = q->outer_adding_to_) {
    if (q == this) return true;
  }
  return false;
}

void task_queue_state::add_range(range_task_base& body, std::uint64_t count) {
  if (building_a_task()) {
    body.release();
    throw_add_while_building();
  }
  add_lock lock(*this);
  segment_ops_ = nullptr;  // the range follows the open segment: it is closed
  try {
    waiting_ranges_.push_back({waiting_count_.load(std::memory_order_relaxed), &body, 0, count, 0});
  } catch (...) {
    body.release();
    throw;
  }
  waiting_range_elements_.fetch_add(count, std::memory_order_relaxed);
}

task_queue_state::~task_queue_state() {
  std::size_t dropped = waiting_count_.load(std::memory_order_relaxed) +
                        waiting_range_elements_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < waiting_count_.load(std::memory_order_relaxed); ++i) {
    waiting_[i].task->destroy();  // storage_ then releases
  }
  for (const range_entry& range : waiting_ranges_) range.body->release();
  if (dropped > 0) {
    std::cerr << "optimist: a task queue was destroyed with " << dropped
              << " task(s) that never ran (call run_all_tasks() / run() before it goes)\n";
  }
}

// INVARIANT (committed-group-runs-once): a group's block that committed is
// never run again as single tasks, even when an exception leaves it after the
// commit: its on-commit actions (publishing the tasks it added) run after the
// commit, and one that throws (out of memory) makes the exception the run's
// error. Called last in a group's attempt: if the attempt has such actions,
// one more, run after them (every action runs even if one throws), notes the
// commit. None: nothing can throw after the commit.
inline void note_commit_after_actions(bool& committed) {
  transaction* tx = tls_current;
  if (tx != nullptr && !tx->on_commit.empty())
    tx->on_commit.push_back([&committed] { committed = true; });
}

void task_queue_state::publish(task_base* task) {
  if (g_publications_before_failure.load(std::memory_order_relaxed) >= 0 &&
      g_publications_before_failure.fetch_sub(1) == 0) {  // test seam: as if out of memory
    task->destroy();
    throw std::bad_alloc();
  }
  if (tls_running_queue == this) {
    // INVARIANT run-owns-its-tasks: a task's child runs in the same run.
    run_pending_.fetch_add(1, std::memory_order_relaxed);  // before it can be taken: never negative
    outstanding_.fetch_add(1, std::memory_order_relaxed);  // before the adding task finishes
    // Publications are serialised so that the published count never runs
    // ahead of a slot still being built (INVARIANT published-slots-are-built).
    tbb::spin_mutex::scoped_lock lock(publish_mutex_);
    try {
      // oneTBB's grow_by counts the new slot before it allocates it: after a
      // failure, slot indices and spawned_published_ no longer agree, so the
      // run publishes nothing more (spawned_broken_, reset with spawned_).
      if (spawned_broken_) throw std::bad_alloc();
      auto slot = spawned_.grow_by(1);
      slot->store(task, std::memory_order_relaxed);
    } catch (...) {
      // Out of memory: the add fails visibly (std::bad_alloc), and the run
      // does not wait for a task it will never see (the counts went up).
      spawned_broken_ = true;
      outstanding_.fetch_sub(1, std::memory_order_relaxed);
      run_pending_.fetch_sub(1, std::memory_order_relaxed);
      task->destroy();
      throw;
    }
    spawned_published_.fetch_add(1, std::memory_order_release);
    return;
  }
  if (building_a_task()) {
    task->destroy();
    throw_add_while_building();
  }
  add_lock lock(*this);
  const std::size_t count = waiting_count_.load(std::memory_order_relaxed);
  try {
    make_room_to_wait();
  } catch (...) {
    task->destroy();  // the add fails visibly (std::bad_alloc) rather than silently
    throw;
  }
  waiting_[count].task = task;
  waiting_count_.store(count + 1, std::memory_order_relaxed);
  segment_ops_ = nullptr;  // closes the open segment
}

void task_queue_state::make_room_to_wait() {
  const std::size_t count = waiting_count_.load(std::memory_order_relaxed);
  if (count < waiting_.size()) return;
  // A run left this buffer behind cleared (size 0) but with its capacity.
  waiting_.resize(std::max({std::size_t{1024}, waiting_.capacity(), 2 * count}));
}

// Under the add lock: room for the task where nothing can fail or grow — the
// next element of the open segment, or a slot already made — else nullptr.
inline void* task_queue_state::try_add_in_place(std::size_t size, std::size_t alignment,
                                                const task_ops* element_ops) noexcept {
  if (element_ops != nullptr) {
    // INVARIANT segment-is-contiguous: only right behind the open segment's
    // last task, and only a task of the same kind (and so the same size). The
    // segment ends at the storage's cursor, so the memory is aligned already
    // and only the block's end is tested (the seed loop's every add).
    if (element_ops == segment_ops_ && storage_.try_allocate_at(segment_next_, size)) [[likely]] {
      segment_next_ += size;
      adding_to_segment_ = true;
      return segment_next_ - size;
    }
    return nullptr;
  }
  void* memory = storage_.try_allocate(size, alignment);
  if (memory != nullptr && waiting_count_.load(std::memory_order_relaxed) < waiting_.size()) {
    adding_to_segment_ = false;
    return memory;
  }
  if (memory != nullptr) storage_.unallocate(memory);
  return nullptr;
}

// The hot path of every add: the biased add lock (add_bias.hpp), a bump
// allocation and an append. What can wait, fail or grow is out of line
// (begin_add_slow), so that the common case saves no registers and calls
// nothing.
void* task_queue_state::begin_add(std::size_t size, std::size_t alignment,
                                  const task_ops* element_ops) {
  // Inside a transaction the task must wait for the commit: the heap path.
  if (tls_current != nullptr) return nullptr;
  const task_queue_state* const outer = tls_adding_to;
  if (outer != nullptr && building_a_task()) [[unlikely]] {
    return begin_add_slow(false, size, alignment, element_ops);
  }
  if (bias_.try_enter()) {
    // INVARIANT bias-excludes: as if this thread held the add lock.
    if (void* memory = try_add_in_place(size, alignment, element_ops)) [[likely]] {
      adding_biased_ = true;
      outer_adding_to_ = outer;
      tls_adding_to = this;
      return memory;
    }
    bias_.leave();
    return begin_add_slow(false, size, alignment, element_ops);
  }
  if (!waiting_mutex_.try_lock()) [[unlikely]] {
    return begin_add_slow(false, size, alignment, element_ops);
  }
  bias_.locked(/*add=*/true);
  if (void* memory = try_add_in_place(size, alignment, element_ops)) [[likely]] {
    adding_biased_ = false;
    outer_adding_to_ = tls_adding_to;
    tls_adding_to = this;
    return memory;
  }
  return begin_add_slow(true, size, alignment, element_ops);
}

void* task_queue_state::begin_add_slow(bool locked, std::size_t size, std::size_t alignment,
                                       const task_ops* element_ops) {
  if (!locked) {
    if (building_a_task()) throw_add_while_building();
    waiting_mutex_.lock();
    bias_.locked(/*add=*/true);
    if (void* memory = try_add_in_place(size, alignment, element_ops)) {
      adding_biased_ = false;
      outer_adding_to_ = tls_adding_to;
      tls_adding_to = this;
      return memory;
    }
  }
  void* memory = nullptr;
  try {
    if (element_ops != nullptr) {
      // A new segment: its body, then its first task (end_add counts it).
      // Room first, so that the push_back below cannot fail. Grown geometrically:
      // reserve(size() + 1) would reallocate on every segment, which made adds of
      // alternating task kinds quadratic (20,000 adds: 0.14 s -> 3.2 s).
      if (waiting_ranges_.size() == waiting_ranges_.capacity()) {
        waiting_ranges_.reserve(std::max<std::size_t>(16, 2 * waiting_ranges_.capacity()));
      }
      void* body = storage_.allocate(sizeof(storage_segment), alignof(storage_segment));
      try {
        memory = storage_.allocate(size, alignment);
      } catch (...) {
        storage_.unallocate(body);
        throw;
      }
      auto* segment =
          ::new (body) storage_segment(static_cast<std::byte*>(memory), size, *element_ops);
      waiting_ranges_.push_back({waiting_count_.load(std::memory_order_relaxed), segment, 0, 0, 0});
      segment_ops_ = element_ops;
      segment_next_ = static_cast<std::byte*>(memory) + size;
      adding_to_segment_ = true;
    } else {
      make_room_to_wait();  // first: end_add's append must not fail
      memory = storage_.allocate(size, alignment);
      adding_to_segment_ = false;
    }
  } catch (...) {
    waiting_mutex_.unlock();
    throw;
  }
  adding_biased_ = false;
  outer_adding_to_ = tls_adding_to;
  tls_adding_to = this;
  return memory;
}

void task_queue_state::end_add(task_base& task) noexcept {
  if (adding_to_segment_) {
    ++waiting_ranges_.back().count;
    waiting_range_elements_.store(waiting_range_elements_.load(std::memory_order_relaxed) + 1,
                                  std::memory_order_relaxed);
  } else {
    const std::size_t count = waiting_count_.load(std::memory_order_relaxed);
    waiting_[count].task = &task;  // room made by begin_add
    waiting_count_.store(count + 1, std::memory_order_relaxed);
    segment_ops_ = nullptr;  // a single task now follows the segment: it is closed
  }
  tls_adding_to = outer_adding_to_;  // (an add to another queue may enclose this one)
  unlock_add();
}

void task_queue_state::cancel_add(void* memory) noexcept {
  storage_.unallocate(memory);
  if (adding_to_segment_) {
    segment_next_ = static_cast<std::byte*>(memory);
    if (waiting_ranges_.back().count == 0) {
      // The segment this task was to open: gone (its body stays in the
      // storage, where it holds nothing).
      waiting_ranges_.pop_back();
      segment_ops_ = nullptr;
    }
  }
  tls_adding_to = outer_adding_to_;  // (an add to another queue may enclose this one)
  unlock_add();
}

task_queue_state::turn_wait task_queue_state::wait_for_turn(std::uint64_t turn, bool& held,
                                                            std::uint64_t* stalled_at,
                                                            std::uint64_t patience) noexcept {
  if (held) return turn_wait::claimed;
  // INVARIANT serial-turn-first: a speculative software attempt does not wait
  // while a serial block holds the gate (outside an attempt, and in the
  // other modes, nothing of ours keeps the gate from opening).
  const bool yields = tls_current != nullptr && tls_current->mode == tx_mode::optimistic;
  std::uint64_t seen = next_commit_.load(std::memory_order_acquire);
  std::uint64_t waited = 0;
  std::uint64_t seen_since = 0;
  std::uint64_t began = 0;
  turn_wait result = turn_wait::claimed;
  for (;;) {
    if (seen == turn) {
      // INVARIANT one-committer-per-turn: the owner and a helper may both
      // reach the turn; the one whose claim lands commits it.
      if (next_commit_.compare_exchange_weak(seen, turn | turn_held_bit,
                                             std::memory_order_acquire)) {
        held = true;
        break;
      }
      continue;
    }
    // INVARIANT stopped-turn-is-last: an earlier turn stopped the run; this
    // one never comes.
    if (stop_turn_.load(std::memory_order_acquire) < turn) {
      result = turn_wait::stopped;
      break;
    }
    if ((seen & ~turn_held_bit) > turn) {
      result = turn_wait::passed;  // committed by a helper
      break;
    }
    if (yields && g_serial_gate.load(std::memory_order_relaxed) != 0) {
      result = turn_wait::yield;
      break;
    }
    if (waited == 0) waited = record_wait_begin() | 1;  // (0: not reporting)
    if (stalled_at != nullptr && (seen & turn_held_bit) == 0) {
      const std::uint64_t now = ticks_now();
      if (seen_since == 0 || *stalled_at != seen) {
        *stalled_at = seen;
        seen_since = now;
      } else if (now - seen_since > patience) {
        result = turn_wait::stalled;
        break;
      }
    }
    if (turn_holder_sleeps_.load(std::memory_order_relaxed)) {
      // The turn's holder sleeps in retry_until (execute_ordered): nap.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    } else {
      if (began == 0) began = ticks_now();
      if (ticks_now() - began < spin_before_yield_ticks) {
        cpu_relax(16);
      } else {
        wait_round(40);
      }
    }
    seen = next_commit_.load(std::memory_order_acquire);
  }
  if (waited > 1) record_wait_end(this_thread_transaction(), waited & ~std::uint64_t{1}, false);
  return result;
}

void task_queue_state::wait_for_turn_hook(void* context) {
  auto* c = static_cast<turn_context*>(context);
  if (c->queue->wait_for_turn(c->turn, *c->held) == turn_wait::claimed) return;
  // The turn never comes (an earlier task stopped the run) or has gone (a
  // helper committed the task): this attempt must not become inevitable.
  // Inside become_inevitable() the attempt restarts and execute_ordered's
  // body gives the task up before running it again; before an attempt starts
  // (the starvation path) there is nothing to undo, and the body gives it up
  // first thing.
  if (tls_current != nullptr) throw restart_signal{};
}

bool task_queue_state::turns_are_elements(std::uint64_t from, std::uint64_t to) const noexcept {
  if (to > batch_tickets_) return false;
  while (from < to) {
    const ticket_place place = place_of(from);
    if (place.range == nullptr) return false;
    from = place.range->first_ticket + place.range->count;
  }
  return true;
}

void task_queue_state::run_elements(std::uint64_t from, std::uint64_t to) {
  while (from < to) {
    const ticket_place place = place_of(from);
    const range_entry& range = *place.range;
    const std::uint64_t end = std::min(to, range.first_ticket + range.count);
    range.body->run_elements(range.begin + place.at, end - from);
    from = end;
  }
}

void task_queue_state::record_error(std::exception_ptr error) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (!first_error_) first_error_ = std::move(error);
  stopping_.store(true, std::memory_order_relaxed);
}

task_queue_state::ticket_place task_queue_state::place_of(std::uint64_t ticket) const noexcept {
  if (batch_ranges_.empty()) return {nullptr, ticket};
  // The last range that starts at or before the ticket.
  auto after =
      std::upper_bound(batch_ranges_.begin(), batch_ranges_.end(), ticket,
                       [](std::uint64_t t, const range_entry& r) { return t < r.first_ticket; });
  if (after == batch_ranges_.begin()) return {nullptr, ticket};
  const range_entry& range = *(after - 1);
  const std::uint64_t range_end = range.first_ticket + range.count;
  if (ticket < range_end) return {&range, ticket - range.first_ticket};
  return {nullptr, range.slot_before + (ticket - range_end)};
}

task_ref task_queue_state::take(std::uint64_t ticket) {
  if (ticket < batch_tickets_) {
    const ticket_place place = place_of(ticket);
    if (place.range != nullptr) {
      return {nullptr, place.range->body, place.range->begin + place.at};
    }
    task_base* task = batch_[place.at].task;
    batch_[place.at].task = nullptr;  // this worker owns the ticket
    return {task, nullptr, 0};
  }
  // INVARIANT published-slots-are-built: the claimer saw the count that
  // covers this slot (acquire), so the slot is built and filled.
  return {spawned_[ticket - batch_tickets_].exchange(nullptr, std::memory_order_relaxed), nullptr,
          0};
}

void task_queue_state::take_consecutive(std::uint64_t first, std::uint64_t count, task_ref* out) {
  for (std::uint64_t i = 0; i < count;) {
    const std::uint64_t ticket = first + i;
    if (ticket < batch_tickets_) {
      const ticket_place place = place_of(ticket);
      if (place.range != nullptr) {
        const std::uint64_t in_range = std::min(count - i, place.range->count - place.at);
        const std::uint64_t index = place.range->begin + place.at;
        for (std::uint64_t k = 0; k < in_range; ++k)
          out[i + k] = {nullptr, place.range->body, index + k};
        i += in_range;
        continue;
      }
    }
    out[i++] = take(ticket);
  }
}

// Unordered mode: batch tickets [first, last), claimed by this worker.
// Returns how many it ran (it stops early when the run stops).
std::uint64_t task_queue_state::run_chunk(std::uint64_t first, std::uint64_t last,
                                          transaction& self, task_group_size& group) {
  std::uint64_t t = first;
  if (batch_ranges_.empty()) return run_singles(first, first, last - first, self, group);
  while (t < last && !stopping_.load(std::memory_order_relaxed)) {
    const ticket_place place = place_of(t);
    if (place.range == nullptr) {
      // Single tasks up to the next range (or the chunk's end): consecutive
      // slots.
      auto next_range = std::upper_bound(
          batch_ranges_.begin(), batch_ranges_.end(), t,
          [](std::uint64_t ticket, const range_entry& r) { return ticket < r.first_ticket; });
      const std::uint64_t end =
          next_range == batch_ranges_.end() ? last : std::min(last, next_range->first_ticket);
      const std::uint64_t ran = run_singles(place.at, t, end - t, self, group);
      t += ran;
      if (t < end) break;  // stopped: the singles left are in their slots
      continue;
    }
    // A run of elements of one range: no lookup per element, and groups of
    // consecutive elements coalesced into one transaction (INVARIANT
    // group-is-its-tasks).
    const range_entry& range = *place.range;
    const std::uint64_t end = std::min(last, range.first_ticket + range.count);
    std::uint64_t index = range.begin + place.at;
    while (t < end && !stopping_.load(std::memory_order_relaxed)) {
      const std::uint64_t size = std::min(group.size, end - t);
      if (size > 1) {
        const group_outcome outcome = execute_range_group(*range.body, index, size, self);
        group.done(outcome);
        lane_.note_progress();
        if (outcome != group_outcome::split) {
          controller_note_group(self.counters.grouped_tasks, size);
          t += size;
          index += size;
          continue;
        }
        // Split: the same elements, one transaction each.
        for (std::uint64_t k = 0; k < size && !stopping_.load(std::memory_order_relaxed);
             ++k, ++t, ++index) {
          execute({nullptr, range.body, index}, self, t);
        }
        continue;
      }
      execute({nullptr, range.body, index}, self, t);
      group.single_done();
      lane_.note_progress();
      ++t;
      ++index;
    }
  }
  // INVARIANT nothing-lost: range elements left of the chunk go back (single
  // tasks left are still in their slots).
  if (t < last) record_unstarted(t, last);
  return t - first;
}

// Unordered mode: `count` single tasks in consecutive batch_ slots from
// `slot`, tickets from `ticket`. Returns how many it ran; the ones it did not
// (the run stopped) stay in their slots (INVARIANT nothing-lost).
std::uint64_t task_queue_state::run_singles(std::uint64_t slot, std::uint64_t ticket,
                                            std::uint64_t count, transaction& self,
                                            task_group_size& group) {
  task_slot* const tickets = batch_.data() + slot;
  std::uint64_t i = 0;
  while (i < count && !stopping_.load(std::memory_order_relaxed)) {
    const std::uint64_t size = std::min(group.size, count - i);
    if (size == 1) {
      task_base* task = tickets[i].task;
      tickets[i].task = nullptr;  // this worker owns the ticket (INVARIANT nothing-lost)
      execute({task, nullptr, 0}, self, ticket + i);
      group.single_done();
      lane_.note_progress();
      ++i;
      continue;
    }
    // Consecutive tasks in one transaction (INVARIANT group-is-its-tasks).
    // Their slots keep them until they have run: a group that rolls back and
    // stops part way leaves the rest where requeue_unstarted finds them.
    task_base* const* tasks = &tickets[i].task;
    const group_outcome outcome = execute_group(
        [tasks, size] {
          for (std::uint64_t k = 0; k < size; ++k) tasks[k]->run();
        },
        self);
    group.done(outcome);
    lane_.note_progress();
    if (outcome != group_outcome::split) {
      controller_note_group(self.counters.grouped_tasks, size);
      for (std::uint64_t k = 0; k < size; ++k, ++i) {
        task_base* task = tickets[i].task;
        tickets[i].task = nullptr;
        task->destroy();
      }
      continue;
    }
    // Split: the same tasks, one transaction each.
    for (std::uint64_t k = 0; k < size && !stopping_.load(std::memory_order_relaxed); ++k, ++i) {
      task_base* task = tickets[i].task;
      tickets[i].task = nullptr;
      execute({task, nullptr, 0}, self, ticket + i);
    }
  }
  return i;
}

void task_queue_state::record_unstarted(std::uint64_t first, std::uint64_t last) noexcept {
  std::lock_guard<std::mutex> lock(unstarted_mutex_);
  // Room was reserved before the run for one give-back per worker.
  unstarted_intervals_.push_back({first, last});
}

void task_queue_state::work() {
  // run_options::mode, for this thread while it works for the run.
  std::optional<scoped_execution_mode> mode;
  if (mode_) mode.emplace(*mode_);
  const std::uint64_t batch_size = batch_tickets_;
  transaction& self = this_thread_transaction();
  unsigned idle = 0;
  // The shared counters are settled once per chunk (at most batch_chunk
  // tasks), not once per task: two read-modify-writes per task on lines every
  // worker writes would cost more than a small task. A worker settles before
  // it looks for the end of the run (outstanding_ == 0) and before it leaves,
  // so the run cannot end while a finished task is still unsettled.
  std::uint64_t unsettled = 0;
  task_group_size group;
  if (ordered_) group.limit = max_ordered_group;
  serial_lane::wait_state lane_wait;
  unsigned lane_rounds = 0;
  auto settle = [&] {
    if (unsettled == 0) return;
    run_pending_.fetch_sub(unsettled, std::memory_order_relaxed);
    outstanding_.fetch_sub(unsettled, std::memory_order_release);
    unsettled = 0;
  };
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (ordered_) {
      // INVARIANT turns-are-running: claim the next turn only once published.
      std::uint64_t turn = next_turn_.load(std::memory_order_relaxed);
      const std::uint64_t published =
          batch_size + spawned_published_.load(std::memory_order_acquire);
      if (turn < published) {
        // Serial blocks: the lane first, as in unordered runs; a single
        // claimant then takes the turns in order and never waits for one.
        const bool serially = blocks_run_serially(self);
        if (threads_ > 1) {
          if (!serially) {
            lane_.leave(&self);
          } else if (!lane_.admit(&self, lane_wait)) {
            serial_lane::wait_round(lane_rounds);
            continue;
          }
          lane_rounds = 0;
        }
        // (Serial groups grow past max_ordered_group; the task array holds
        // max_extended_group.)
        const std::uint64_t claim = std::min({group.size, published - turn, max_extended_group});
        if (next_turn_.compare_exchange_weak(turn, turn + claim, std::memory_order_relaxed)) {
          std::uint64_t ran = claim;
          if (claim == 1 && !serially) {
            execute_ordered(take(turn), turn);
            group.single_done();
          } else {
            // it may claim more turns
            group.done(execute_ordered_group(turn, ran, serially));
          }
          lane_.note_progress();
          unsettled += ran;
          if (unsettled >= batch_chunk) settle();
          idle = 0;
        }
        continue;
      }
    } else {
      // Tasks set aside by retry_until whose deadline has passed: woken here
      // (INVARIANT timed-is-outstanding). One relaxed load while there are none.
      if (const std::uint64_t due = parked_.earliest_deadline(); due != 0) {
        if (const std::uint64_t now = steady_now_ns(); now >= due) parked_.wake_due(now);
      }
      if (parked_.any_woken()) {
        // A task set aside by retry() whose wait is over: run it again.
        std::uint64_t ticket = 0;
        const void* rung = nullptr;
        if (task_base* task = parked_.take_woken(ticket, rung)) {
          self.doorbell_duty = rung;  // INVARIANT doorbell-duty: settled by the task's block
          execute({task, nullptr, 0}, self, ticket);
          if (++unsettled == batch_chunk) settle();  // it counts as pending and outstanding again
          idle = 0;
          continue;
        }
      }
      const std::uint64_t next = next_batch_.load(std::memory_order_relaxed);
      if (next < batch_size) {
        // At two workers or more, serial blocks take the lane first
        // (serial_lane.hpp, INVARIANT lane-never-blocks).
        if (threads_ > 1) {
          if (!blocks_run_serially(self)) {
            lane_.leave(&self);
          } else if (!lane_.admit(&self, lane_wait)) {
            serial_lane::wait_round(lane_rounds);
            continue;
          }
          lane_rounds = 0;
        }
        // Chunks shrink as the batch runs out, so that the last tasks (or a
        // small batch) still spread over every worker.
        const std::uint64_t chunk =
            std::clamp<std::uint64_t>((batch_size - next) / (4 * threads_), 1, claim_chunk);
        const std::uint64_t first = next_batch_.fetch_add(chunk, std::memory_order_relaxed);
        const std::uint64_t last = std::min(first + chunk, batch_size);
        if (first < last) unsettled += run_chunk(first, last, self, group);
        settle();
        idle = 0;
        continue;
      }
      std::uint64_t j = next_spawned_.load(std::memory_order_relaxed);
      if (j < spawned_published_.load(std::memory_order_acquire)) {
        if (next_spawned_.compare_exchange_weak(j, j + 1, std::memory_order_relaxed)) {
          execute(take(batch_size + j), self, batch_size + j);
          if (++unsettled == batch_chunk) settle();
          idle = 0;
        }
        continue;
      }
    }
    // Nothing to claim: done if nothing running can add more, else wait.
    settle();
    lane_.leave(&self);
    const std::uint64_t outstanding = outstanding_.load(std::memory_order_acquire);
    if (outstanding == 0) return;
    if (turn_holder_sleeps_.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // see wait_for_turn
      continue;
    }
    if (const std::size_t timed = parked_.timed(); timed != 0 && outstanding <= timed) {
      // Everything left waits in retry_until (INVARIANT timed-is-outstanding):
      // no task runs that could add or wake one, so sleep rather than spin,
      // until the earliest deadline but at most 1 ms at a time (a commit from
      // outside the run may wake a task sooner).
      const std::uint64_t due = parked_.earliest_deadline();
      const std::uint64_t now = steady_now_ns();
      // No earliest deadline while timed tasks wait (each one woken is queued,
      // and taken above): only a lost deadline would get here; recompute it
      // rather than spin (a slowdown, never a run that cannot end).
      if (due == 0) parked_.wake_due(now);
      const std::uint64_t nap =
          due == 0 ? 1'000'000 : std::min<std::uint64_t>(due > now ? due - now : 0, 1'000'000);
      if (nap > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(nap));
      continue;
    }
    wait_round(idle < 30 ? idle++ : 30);
  }
  settle();
  lane_.leave(&self);
}

// Unordered mode: the task's own transaction, nothing else to wait for.
void task_queue_state::execute(const task_ref& task, transaction& self, std::uint64_t ticket) {
  task_queue_state* outer = tls_running_queue;
  tls_running_queue = this;
  self.retry_propagates = true;  // a retry must not park this worker
  bool parked = false;
  try {
    run_atomically([&task] { task.run(); });
  } catch (const restart_signal&) {
    // Only optimist::retry() leaves an atomic block this way (retry_propagates).
    self.retry_propagates = false;
    parked = set_aside(task, self, ticket);
  } catch (...) {
    record_error(std::current_exception());
  }
  self.retry_propagates = false;
  // INVARIANT doorbell-duty: the block settles it (commit, exception, retry);
  // a ring still owed here is passed on rather than carried to another task.
  if (const void* bell = std::exchange(self.doorbell_duty, nullptr)) ring_doorbell(bell);
  tls_running_queue = outer;
  // Outside the run's context, as a destructor of the caller's would.
  if (!parked && task.task != nullptr) task.task->destroy();
}

bool task_queue_state::set_aside(const task_ref& task, transaction& self, std::uint64_t ticket) {
  run_pending_.fetch_add(1, std::memory_order_relaxed);  // pending() counts it again
  task_base* parked = task.task;
  try {
    // A range element outlives its turn: it becomes a task of its own.
    if (parked == nullptr) parked = make_element_task(*task.body, task.index);
    parked_.set_aside(parked, ticket, self);
    return true;
  } catch (...) {
    run_pending_.fetch_sub(1, std::memory_order_relaxed);
    record_error(std::current_exception());  // out of memory: the task fails as if it threw
    if (task.task == nullptr && parked != nullptr) parked->destroy();
    // INVARIANT doorbell-duty: finish_retry took a ring owed to a doorbell the
    // task was to wait at again as settled; it will not wait there now.
    for (const doorbell_mark& m : self.retry_marks) ring_doorbell(m.bell);
    self.retry_marks.clear();
    return false;
  }
}

namespace {
// Thrown inside an ordered task's transaction when its turn will never come
// (INVARIANT stopped-turn-is-last): rolls the attempt back; the task is put
// back, unstarted, for the next run.
struct turn_abandoned {};
// Thrown inside an ordered task's or group's transaction when a helper has
// committed its turns (INVARIANT helped-turns-are-elements): rolls the attempt
// back; the tasks are done.
struct turn_passed {};
// Thrown inside an ordered task's or group's transaction that waited too long
// for a stalled turn it may help with (reach_turn_or_help).
struct help_signal {};
// Thrown inside a helping transaction that gives up (help_stalled).
struct help_given_up {};
// Thrown inside an ordered task's or group's speculative attempt that would
// wait for its turn while a serial block holds the gate (INVARIANT
// serial-turn-first): rolls the attempt back; it runs again, not counted as
// lost.
struct serial_yield {};
}  // namespace

// Thrown in an ordered group's transaction when one of its tasks would do
// what only a task alone may (INVARIANT group-is-its-turns).
struct task_queue_state::group_fallback {};

// Inside the attempt of an ordered task or group whose first turn is `first`:
// waits for the turn and claims it; or throws turn_passed (a helper committed
// it), turn_abandoned (the run stopped before it), or — once per task or
// group, when the turn it waits for has not moved for a while and its turns
// may be helped (INVARIANT helped-turns-are-elements) — help_signal, with the
// stalled turn in help_from.
void task_queue_state::reach_turn_or_help(std::uint64_t first, bool& held, bool& may_help,
                                          std::uint64_t& help_from, std::uint64_t ran_ticks) {
  std::uint64_t stalled_at = 0;
  // At least a few times what the waiting attempt took to run: a slow task
  // ahead is not taken over while it runs.
  const std::uint64_t patience = std::max(help_patience_ticks, 4 * ran_ticks);
  turn_wait reached = wait_for_turn(first, held, may_help ? &stalled_at : nullptr, patience);
  if (reached == turn_wait::yield) throw serial_yield{};
  if (reached == turn_wait::stalled) {
    may_help = false;
    if (first - stalled_at <= max_helped_turns && turns_are_elements(stalled_at, first)) {
      help_from = stalled_at;
      throw help_signal{};
    }
    reached = wait_for_turn(first, held);
    if (reached == turn_wait::yield) throw serial_yield{};
  }
  if (reached == turn_wait::passed) throw turn_passed{};
  if (reached == turn_wait::stopped) throw turn_abandoned{};
}

// Runs the stalled turns [from, to) — range elements of other workers' groups,
// whole groups (INVARIANT helped-turns-are-elements) — in one transaction, and
// commits them at turn `from` if it claims the turn before their owners do;
// their owners then find their turns passed. Gives up (the turn unchanged) if
// an owner claims first, after two conflicts, or if a task would throw, retry
// or become inevitable: that is for its owner to settle at its turn. Runs
// with the group hooks (the caller's are put back by the caller).
bool task_queue_state::help_stalled(std::uint64_t from, std::uint64_t to) noexcept {
  bool held = false;  // INVARIANT one-committer-per-turn
  bool committed = false;
  unsigned attempts = 0;
  try {
    run_atomically([&] {
      if (!held && (attempts++ >= 2 || next_commit_.load(std::memory_order_acquire) != from)) {
        throw help_given_up{};
      }
      run_elements(from, to);
      note_commit_after_actions(committed);
      if (!held) {
        std::uint64_t expected = from;
        if (!next_commit_.compare_exchange_strong(expected, from | turn_held_bit,
                                                  std::memory_order_acquire)) {
          throw help_given_up{};
        }
        held = true;
      }
      tls_current->revalidate();  // serialise after every earlier task, or re-run
    });
  } catch (...) {
    if (committed) {
      // INVARIANT committed-group-runs-once, and stopped-turn-is-last: the
      // turns [from, to) committed; the run stops after them (no later turn
      // commits: the sequential loop would have stopped at this error).
      record_error(std::current_exception());
      stop_turn_.store(to - 1, std::memory_order_release);
    } else {
      // Nothing committed: the turn goes back as it was.
      if (held) next_commit_.store(from, std::memory_order_release);
      return false;
    }
  }
  next_commit_.store(to, std::memory_order_release);  // hands the turn (and the claim) on
  // One block committed the turns: stats() counts it once, and the other
  // tasks as grouped (their owners, finding them passed, count nothing).
  controller_note_group(this_thread_transaction().counters.grouped_tasks, to - from);
  return true;
}

void task_queue_state::execute_ordered(const task_ref& task, std::uint64_t turn) {
  task_queue_state* outer = tls_running_queue;
  tls_running_queue = this;
  transaction& self = this_thread_transaction();
  bool held = false;  // this task holds its turn (INVARIANT one-committer-per-turn)
  turn_context context{this, turn, &held};
  self.before_irrevocable = &wait_for_turn_hook;
  self.before_irrevocable_context = &context;
  self.retry_propagates = true;
  enum class outcome { committed, failed, blocked, abandoned, passed } result = outcome::committed;
  unsigned attempts = 0;
  // Waits for the turn inside the attempt: the attempt rolls back unless the
  // task now holds it.
  auto reach_turn = [&] {
    switch (wait_for_turn(turn, held)) {
      case turn_wait::claimed:
        return;
      case turn_wait::passed:
        throw turn_passed{};
      case turn_wait::yield:
        throw serial_yield{};
      default:
        throw turn_abandoned{};
    }
  };
  bool may_help = true;  // at most one help per task (help_stalled)
  std::uint64_t help_from = 0;
  try {
    for (bool again = true; again;) {
      again = false;
      try {
        run_atomically([&] {
          if (!held) {
            if (stop_turn_.load(std::memory_order_acquire) < turn) throw turn_abandoned{};
            if (turn_has_passed(turn)) throw turn_passed{};
          }
          if (attempts++ >= 2) reach_turn();  // lost twice: run again only at its turn
          const std::uint64_t began = ticks_now();
          try {
            task.run();
          } catch (...) {
            // Only an exception the sequential loop would also have thrown
            // counts: check against everything committed before this task.
            reach_turn();
            tls_current->revalidate();
            throw;
          }
          reach_turn_or_help(turn, held, may_help, help_from, ticks_now() - began);
          tls_current->revalidate();  // serialise after every earlier task, or re-run
        });
      } catch (const help_signal&) {
        // Rolled back: the stalled turns first, then the task again.
        self.before_irrevocable = &group_fallback_hook;
        self.before_irrevocable_context = nullptr;
        help_stalled(help_from, turn);
        self.before_irrevocable = &wait_for_turn_hook;
        self.before_irrevocable_context = &context;
        again = true;
      } catch (const serial_yield&) {
        --attempts;  // rolled back for a serial block, not lost
        again = true;
      } catch (const restart_signal&) {
        // optimist::retry_until() at the task's turn (only a retry leaves the
        // block this way, and only at the turn: see the blocked case below).
        // No later task may commit first, so the worker waits here, holding
        // the turn, for a commit from outside the run or the deadline, and
        // runs the task again; then the deadline has passed, or what it read
        // has changed. A plain retry() blocks the task (below).
        if (self.retry_deadline_ns == 0) throw;
        const std::uint64_t deadline = self.retry_deadline_ns;
        const std::uint64_t waited = self.recording ? record_wait_begin() : 0;
        turn_holder_sleeps_.store(true, std::memory_order_relaxed);
        wait_for_change(self.retry_waiter, self.retry_reads, self.retry_marks, deadline);
        turn_holder_sleeps_.store(false, std::memory_order_relaxed);
        self.doorbell_duty = self.retry_waiter.take_rung();  // INVARIANT doorbell-duty
        if (waited != 0) record_wait_end(self, waited, false);
        self.retry_reads.clear();
        self.retry_marks.clear();
        again = true;
      }
    }
  } catch (const turn_abandoned&) {
    result = outcome::abandoned;
  } catch (const turn_passed&) {
    result = outcome::passed;
  } catch (const restart_signal&) {
    // optimist::retry() at the task's turn, on a read set revalidated against
    // every earlier task (the catch above): no task of the run can wake it.
    self.retry_propagates = false;
    result = outcome::blocked;
    task_base* blocked = task.task;
    try {
      if (blocked == nullptr) blocked = make_element_task(*task.body, task.index);
      parked_.add_blocked(blocked, turn, self.retry_site);
      run_pending_.fetch_add(1, std::memory_order_relaxed);
    } catch (...) {
      if (task.task == nullptr && blocked != nullptr) blocked->destroy();
      result = outcome::failed;
      record_error(std::current_exception());
    }
  } catch (...) {
    // From the task at its turn (the catch in the body waited for it), or from
    // the runtime (out of memory) at any time: then only at its turn does it
    // stop the run, else the task did not commit and runs in the next run (or
    // a helper committed it).
    switch (wait_for_turn(turn, held)) {
      case turn_wait::claimed:
        result = outcome::failed;
        record_error(std::current_exception());
        break;
      case turn_wait::passed:
        result = outcome::passed;
        break;
      default:
        result = outcome::abandoned;
        break;
    }
  }
  self.retry_propagates = false;
  self.before_irrevocable = nullptr;
  self.before_irrevocable_context = nullptr;
  tls_running_queue = outer;
  switch (result) {
    case outcome::committed:
      // INVARIANT turns-are-running: hand the turn on exactly once (and with
      // it the claim, INVARIANT one-committer-per-turn).
      next_commit_.store(turn + 1, std::memory_order_release);
      if (task.task != nullptr) task.task->destroy();
      break;
    case outcome::passed:
      // A helper ran and committed it (INVARIANT helped-turns-are-elements):
      // a range element, nothing to end.
      break;
    case outcome::failed:
    case outcome::blocked:
      // INVARIANT stopped-turn-is-last: the turn is not handed on (its claim
      // stays); every later task rolls back and stays queued, as in the
      // sequential loop, which would have stopped here.
      // stopping_ first: a worker that sees the stop turn (acquire) and gives
      // its task back then sees stopping_ too and claims nothing more.
      stopping_.store(true, std::memory_order_relaxed);
      stop_turn_.store(turn, std::memory_order_release);
      if (result == outcome::failed && task.task != nullptr) task.task->destroy();
      break;
    case outcome::abandoned:
      put_back(task, turn);
      break;
  }
}

void task_queue_state::put_back(const task_ref& task, std::uint64_t ticket) noexcept {
  // INVARIANT nothing-lost: back into its ticket slot, from where
  // requeue_unstarted queues it for the next run, in ticket order.
  run_pending_.fetch_add(1, std::memory_order_relaxed);
  if (task.task == nullptr) {
    record_unstarted(ticket, ticket + 1);  // a range element
  } else if (ticket < batch_tickets_) {
    batch_[static_cast<std::size_t>(place_of(ticket).at)].task = task.task;
  } else {
    spawned_[static_cast<std::size_t>(ticket - batch_tickets_)].store(task.task,
                                                                      std::memory_order_relaxed);
  }
}

// A task set aside or blocked during the run, back after it: single tasks go
// to their slots, range elements (tasks of their own by now) to
// returned_elements_; requeue_unstarted queues both in ticket order.
void task_queue_state::put_back_returned(std::uint64_t ticket, task_base* task) {
  if (ticket >= batch_tickets_) {
    spawned_[static_cast<std::size_t>(ticket - batch_tickets_)].store(task,
                                                                      std::memory_order_relaxed);
    return;
  }
  const ticket_place place = place_of(ticket);
  if (place.range == nullptr) {
    batch_[static_cast<std::size_t>(place.at)].task = task;
  } else {
    returned_elements_.push_back({ticket, task});
  }
}

// While an ordered group waits for its turn, it claims the turns right after
// it (if no other worker has) and runs them in the same transaction, so that
// a worker waits for an earlier turn only when it cannot take more work or the
// group is full (max_extended_group). Returns whether it claimed any.
bool task_queue_state::extend_ordered_group(std::uint64_t first, std::uint64_t& count,
                                            task_ref* tasks) {
  if (count >= max_extended_group) return false;
  std::uint64_t turn = next_turn_.load(std::memory_order_relaxed);
  if (turn != first + count) return false;  // another worker claimed the next turns
  const std::uint64_t published =
      batch_tickets_ + spawned_published_.load(std::memory_order_acquire);
  if (turn >= published) return false;
  const std::uint64_t claim =
      std::min({published - turn, max_extended_group - count, max_turn_group});
  // INVARIANT turns-are-running / group-is-its-turns: consecutive, published turns.
  if (!next_turn_.compare_exchange_strong(turn, turn + claim, std::memory_order_relaxed)) {
    return false;
  }
  take_consecutive(turn, claim, tasks + count);
  count += claim;
  return true;
}

group_outcome task_queue_state::execute_ordered_group(std::uint64_t first, std::uint64_t& count,
                                                      bool serially) {
  // INVARIANT (group-is-its-turns): the group's tasks run one after the other
  // in one transaction, in turn order, and it commits only at the turn of its
  // first task (revalidated against everything committed before), handing on
  // past its last: the same serial order as count single turns. Whatever a
  // single task would do alone — throw, retry, become inevitable (I/O cannot
  // be undone if a later task of the group failed) — rolls the group back
  // before it has any effect, and its tasks run again one turn each.
  task_ref tasks[max_extended_group];
  take_consecutive(first, count, tasks);
  task_queue_state* outer = tls_running_queue;
  tls_running_queue = this;
  transaction& self = this_thread_transaction();
  self.before_irrevocable = &group_fallback_hook;
  self.before_irrevocable_context = nullptr;
  self.retry_propagates = true;
  enum class outcome { committed, abandoned, single, passed } result = outcome::committed;
  unsigned attempts = 0;
  bool committed = false;  // note_commit_after_actions
  bool held = false;       // the group holds turn `first` (INVARIANT one-committer-per-turn)
  bool may_help = true;    // at most one help per group (help_stalled)
  std::uint64_t help_from = 0;
  bool again = true;
  if (serially) {
    // INVARIANT serial-turn-first: the turn first, then a block that may run
    // serially (serial_runs_group: as an unordered element group, it calls
    // the hook, which splits the group, only at become_inevitable()). Held,
    // the block neither extends the group nor waits.
    switch (wait_for_turn(first, held)) {
      case turn_wait::claimed:
        self.serial_runs_group = true;
        break;
      case turn_wait::passed:
        result = outcome::passed;
        again = false;
        break;
      default:
        result = outcome::abandoned;
        again = false;
        break;
    }
  }
  const std::uint64_t serial_commits = self.counters.serial_commits;
  while (again) {
    again = false;
    try {
      run_atomically([&] {
        if (!held) {
          if (stop_turn_.load(std::memory_order_acquire) < first) throw turn_abandoned{};
          if (turn_has_passed(first)) throw turn_passed{};
        }
        if (attempts++ >= 2) throw group_fallback{};  // lost twice: one turn each
        const std::uint64_t began = ticks_now();
        std::uint64_t ran = 0;
        run_in_order(tasks, ran, count);
        ran = count;
        // Work instead of waiting: more turns, while the earlier ones run.
        while (attempts == 1 && !held &&
               (next_commit_.load(std::memory_order_acquire) & ~turn_held_bit) < first &&
               stop_turn_.load(std::memory_order_acquire) > first &&
               extend_ordered_group(first, count, tasks)) {
          run_in_order(tasks, ran, count);
          ran = count;
        }
        reach_turn_or_help(first, held, may_help, help_from, ticks_now() - began);
        tls_current->revalidate();  // serialise after every earlier task, or re-run
        note_commit_after_actions(committed);
      });
    } catch (const help_signal&) {
      // Rolled back: the stalled turns first, then the group again.
      help_stalled(help_from, first);
      attempts = 0;
      again = true;
    } catch (const serial_yield&) {
      --attempts;  // rolled back for a serial block, not lost
      again = true;
    } catch (const turn_abandoned&) {
      result = outcome::abandoned;
    } catch (const turn_passed&) {
      result = outcome::passed;
    } catch (...) {
      if (committed) {
        // After the commit (publishing a task the group added ran out of
        // memory): the run's error; the group committed at its turn
        // (INVARIANT committed-group-runs-once), and the run stops after it
        // (INVARIANT stopped-turn-is-last: no later turn commits).
        record_error(std::current_exception());
        stop_turn_.store(first + count - 1, std::memory_order_release);
      } else {
        // A task threw or retried, one wanted to become inevitable, the group
        // lost twice, or the runtime ran out of memory: the tasks alone decide.
        result = outcome::single;
      }
    }
  }
  self.retry_propagates = false;
  self.before_irrevocable = nullptr;
  self.serial_runs_group = false;
  tls_running_queue = outer;
  switch (result) {
    case outcome::committed:
      // Hands the turn (and the claim) on past the group's last task.
      next_commit_.store(first + count, std::memory_order_release);
      controller_note_group(self.counters.grouped_tasks, count);
      for (std::uint64_t i = 0; i < count; ++i) {
        if (tasks[i].task != nullptr) tasks[i].task->destroy();
      }
      if (self.counters.serial_commits != serial_commits) return group_outcome::serial;
      return attempts == 1 ? group_outcome::first_try : group_outcome::conflicted;
    case outcome::passed:
      // A helper committed the group: range elements only, nothing to end.
      return group_outcome::conflicted;
    case outcome::abandoned:
      for (std::uint64_t i = 0; i < count; ++i) put_back(tasks[i], first + i);
      return group_outcome::conflicted;
    case outcome::single:
      // Its tasks claim their turns one by one: a claim the group holds goes
      // back unchanged (nothing of the group committed).
      if (held) next_commit_.store(first, std::memory_order_release);
      break;
  }
  for (std::uint64_t i = 0; i < count; ++i) execute_ordered(tasks[i], first + i);
  return group_outcome::split;
}

group_outcome task_queue_state::execute_range_group(range_task_base& body, std::uint64_t index,
                                                    std::uint64_t count, transaction& self) {
  return execute_group([&body, index, count] { body.run_elements(index, count); }, self);
}

template <class RunTasks>
group_outcome task_queue_state::execute_group(RunTasks run_tasks, transaction& self) {
  // INVARIANT (group-is-its-tasks): unordered mode may run consecutive
  // elements of one range in one transaction: its commit is the serial order
  // "these elements one after the other", which is one of the orders the run
  // may choose. Whatever an element would do alone — throw (its exception must
  // name it and leave the others to run), retry (it alone waits), become
  // inevitable (its I/O must not be repeated by a later split) — or losing
  // twice rolls the whole group back, and the caller runs its elements one
  // transaction each.
  task_queue_state* outer = tls_running_queue;
  tls_running_queue = this;
  self.before_irrevocable = &group_fallback_hook;
  self.before_irrevocable_context = nullptr;
  self.serial_runs_group = true;  // serial mode: one block, split at become_inevitable()
  self.retry_propagates = true;
  unsigned attempts = 0;
  bool split = false;
  const std::uint64_t serial_before = self.counters.serial_commits.load(std::memory_order_relaxed);
  const std::uint64_t began = ticks_now();
  bool committed = false;
  try {
    run_atomically([&] {
      if (attempts++ >= 2) throw group_fallback{};
      run_tasks();
      note_commit_after_actions(committed);
    });
  } catch (...) {
    // INVARIANT committed-group-runs-once: an exception after the commit
    // (publishing a task the group added ran out of memory) is the run's
    // error; the group's tasks took effect and must not run again alone.
    if (committed) {
      record_error(std::current_exception());
    } else {
      split = true;
    }
  }
  self.retry_propagates = false;
  self.before_irrevocable = nullptr;
  self.serial_runs_group = false;
  tls_running_queue = outer;
  if (split) return group_outcome::split;
  if (attempts != 1) return group_outcome::conflicted;
  if (self.counters.serial_commits.load(std::memory_order_relaxed) != serial_before)
    return group_outcome::serial;
  return ticks_now() - began > max_group_ticks ? group_outcome::slow : group_outcome::first_try;
}

void task_queue_state::group_fallback_hook(void*) {
  // Called before the group's transaction would become irrevocable (inside
  // become_inevitable(), or before an attempt starts after many aborts):
  // nothing irrevocable has happened yet, and the group's tasks run alone.
  throw group_fallback{};
}

// The oneTBB task of one worker loop. oneTBB copies it into a task object on
// the thread that starts the run and hands that to a worker inside the
// uninstrumented library; each copy announces itself to ThreadSanitizer once
// built (handoff_release on its own address), and the worker acquires that
// address before reading anything: everything the starting thread did before
// — filling batch_ included — is then ordered before the worker's reads.
struct task_queue_state::worker {
  explicit worker(task_queue_state* q) : queue(q) { handoff_release(this); }
  worker(const worker& other) : queue(other.queue) { handoff_release(this); }
  worker& operator=(const worker&) = delete;
  void operator()() const {
    handoff_acquire(this);
    // INVARIANT (isolated-loops): a worker loop runs isolated, so a task that waits in oneTBB
    // (a tbb::parallel_for, a parallel algorithm) takes only its own jobs meanwhile, never a
    // worker job of the run: that would run a second loop inside the task's open transaction
    // (its tasks rolled back with it, or an ordered run waiting on its own thread for ever).
    tbb::this_task_arena::isolate([this] { queue->work(); });
    handoff_release(queue);  // acquired by run() after group.wait()
  }
  task_queue_state* queue;
};

void task_queue_state::requeue_unstarted(bool tasks_put_back) {
  // INVARIANT nothing-lost: what this run did not start goes back first, in
  // ticket order, ahead of what other threads added meanwhile. Only a run that
  // stopped early leaves any: otherwise every ticket was taken.
  std::vector<task_slot> unstarted;
  std::vector<range_entry> pieces;  // range elements not started, placed among `unstarted`
  std::uint64_t piece_elements = 0;
  // INVARIANT storage-outlives-tasks: where what is requeued lives in this run's storage (a
  // single task; a segment's body and the elements of it still to run, also an element that
  // came back from retry() as a task of its own, which refers to them). Only those blocks live
  // on in the queue's storage; the others go back as spares. (Keeping every block grew the
  // queue's memory by each stopped run's tasks, for good, while any task stayed queued.)
  std::vector<std::uintptr_t> live;
  bool live_known = true;  // false: out of memory listing them; every block is kept
  auto note_live = [&](const void* address) noexcept {
    if (!live_known) return;
    try {
      live.push_back(reinterpret_cast<std::uintptr_t>(address));
    } catch (const std::bad_alloc&) {
      live_known = false;
    }
  };
  auto note_live_elements = [&](const range_task_base* body, std::uint64_t first,
                                std::uint64_t count) noexcept {
    note_live(body);
    // A body in the storage is a storage_segment (add_tasks bodies are on the heap).
    if (count == 0 || !batch_storage_.holds(body)) return;
    const auto* segment = static_cast<const storage_segment*>(body);
    note_live(reinterpret_cast<const void*>(segment->element_address(first)));
    note_live(reinterpret_cast<const void*>(segment->element_address(first + count - 1)));
  };
  if (stopping_.load(std::memory_order_relaxed) || tasks_put_back) {
    if (batch_ranges_.empty() && returned_elements_.empty()) {
      for (const task_slot& slot : batch_) {
        if (slot.task != nullptr) unstarted.push_back(slot);
      }
    } else {
      // What is left, by ticket: single tasks in their slots, range elements
      // never claimed or given back, range elements that came back as tasks.
      struct left {
        std::uint64_t ticket;
        task_base* task;           // a single task, or
        const range_entry* range;  // `count` elements of `range` from element `at`
        std::uint64_t at;
        std::uint64_t count;
      };
      std::vector<left> items;
      std::size_t next_range = 0;
      std::uint64_t elements_before = 0;
      for (std::size_t slot = 0; slot < batch_.size(); ++slot) {
        while (next_range < batch_ranges_.size() && batch_ranges_[next_range].slot_before <= slot) {
          elements_before += batch_ranges_[next_range++].count;
        }
        if (batch_[slot].task != nullptr) {
          items.push_back({slot + elements_before, batch_[slot].task, nullptr, 0, 0});
        }
      }
      const std::uint64_t claimed_end =
          std::min(ordered_ ? next_turn_.load(std::memory_order_relaxed)
                            : next_batch_.load(std::memory_order_relaxed),
                   batch_tickets_);
      unstarted_intervals_.push_back({claimed_end, batch_tickets_});  // room reserved
      for (const range_entry& range : batch_ranges_) {
        const std::uint64_t range_end = range.first_ticket + range.count;
        for (const auto& [first, last] : unstarted_intervals_) {
          const std::uint64_t from = std::max(first, range.first_ticket);
          const std::uint64_t to = std::min(last, range_end);
          if (from < to)
            items.push_back({from, nullptr, &range, from - range.first_ticket, to - from});
        }
      }
      for (const auto& [ticket, task] : returned_elements_) {
        items.push_back({ticket, task, nullptr, 0, 0});
        const ticket_place place = place_of(ticket);  // the element it stands for
        if (place.range != nullptr)
          note_live_elements(place.range->body, place.range->begin + place.at, 1);
      }
      std::sort(items.begin(), items.end(),
                [](const left& a, const left& b) { return a.ticket < b.ticket; });
      for (const left& item : items) {
        if (item.task != nullptr) {
          unstarted.push_back(item.task);
        } else {
          pieces.push_back(
              {unstarted.size(), item.range->body, item.range->begin + item.at, item.count, 0});
          item.range->body->retain();
          piece_elements += item.count;
          note_live_elements(item.range->body, item.range->begin + item.at, item.count);
        }
      }
    }
    for (std::atomic<task_base*>& slot : spawned_) {
      if (task_base* task = slot.load(std::memory_order_acquire)) unstarted.push_back(task);
    }
  }
  for (const range_entry& range : batch_ranges_) range.body->release();
  batch_ranges_.clear();
  unstarted_intervals_.clear();
  returned_elements_.clear();
  batch_.clear();
  // Memory of a run goes back after it: a vector for more tasks than a
  // typical loop has is freed, not kept at its largest size.
  if (batch_.capacity() > retained_slots) std::vector<task_slot>().swap(batch_);
  spawned_.clear();
  spawned_broken_ = false;
  if (spawned_.capacity() > retained_slots) {
    tbb::concurrent_vector<std::atomic<task_base*>>().swap(spawned_);
  }
  run_pending_.store(0, std::memory_order_relaxed);
  for (const task_slot& slot : unstarted) note_live(slot.task);
  if (unstarted.empty() && pieces.empty()) {
    // INVARIANT storage-outlives-tasks: every task of this run has ended.
    add_lock lock(*this);
    storage_.recycle(std::move(batch_storage_));
    return;
  }
  add_lock lock(*this);
  segment_ops_ = nullptr;  // what was added meanwhile now follows the requeued tasks
  const std::size_t requeued = unstarted.size();
  const auto waiting_end = waiting_.begin() + static_cast<std::ptrdiff_t>(
                                                  waiting_count_.load(std::memory_order_relaxed));
  unstarted.insert(unstarted.end(), waiting_.begin(), waiting_end);
  waiting_.swap(unstarted);
  waiting_count_.store(waiting_.size(), std::memory_order_relaxed);
  // The ranges added meanwhile now sit after the requeued single tasks.
  for (range_entry& range : waiting_ranges_) range.slot_before += requeued;
  pieces.insert(pieces.end(), waiting_ranges_.begin(), waiting_ranges_.end());
  waiting_ranges_.swap(pieces);
  waiting_range_elements_.fetch_add(piece_elements, std::memory_order_relaxed);
  if (live_known) {
    storage_.keep_blocks_holding(std::move(batch_storage_), live);
  } else {
    storage_.append(std::move(batch_storage_));  // the unstarted tasks live on in it
  }
}

void task_queue_state::run(const run_options& options, source_location site) {
  if (tls_running_queue != nullptr) {
    throw std::logic_error(
        "optimist::run_all_tasks: called from inside a task; add tasks with add_task and the "
        "running run will execute them");
  }
  if (tls_current != nullptr) {
    throw std::logic_error("optimist::run_all_tasks: called inside an atomic block");
  }
  // Building a task holds its queue's add lock (or bias): a run of that queue
  // would take the storage of the task being built from under it, and a run
  // of another queue would wait for workers that may need the lock held here.
  if (tls_adding_to != nullptr) {
    throw std::logic_error(
        "optimist::run_all_tasks: called while a task is being built (from the copy or move "
        "constructor of a task or of its arguments)");
  }
  const unsigned threads = resolve_thread_count(options);
  bool expected = false;
  if (!running_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    throw std::logic_error(
        "optimist::task_queue::run: this queue is already running on another thread");
  }
  struct clear_running {
    std::atomic<bool>& flag;
    ~clear_running() { flag.store(false, std::memory_order_release); }
  } clear{running_};

  // The process-wide mode comes from OPTIMIST_MODE on first use. A bad value
  // must fail here, before the run takes a task, and not in the first
  // transactions of its workers: the tasks running them would be dropped
  // with the error (INVARIANT nothing-lost).
  if (!options.mode) (void)execution_mode_now();
  ordered_ = options.ordered;
  if (options.mode && *options.mode != execution_mode::stm &&
      *options.mode != execution_mode::htm && *options.mode != execution_mode::automatic &&
      *options.mode != execution_mode::serial) {
    throw std::invalid_argument("optimist::task_queue::run: run_options::mode holds " +
                                std::to_string(static_cast<int>(*options.mode)) +
                                ", which is not an execution_mode");
  }
  mode_ = options.mode;
  threads_ = threads;
  run_site_ = site;
  stopping_.store(false, std::memory_order_relaxed);
  turn_holder_sleeps_.store(false, std::memory_order_relaxed);
  first_error_ = nullptr;
  batch_.clear();
  spawned_.clear();
  spawned_broken_ = false;
  // Room for what workers give back (record_unstarted), and the tail of
  // unclaimed tickets: reserved now so that giving back never fails.
  unstarted_intervals_.reserve(threads * max_extended_group + 2);
  {
    add_lock lock(*this);
    batch_.swap(waiting_);  // the whole queue at once, in order
    batch_.resize(waiting_count_.load(std::memory_order_relaxed));  // never grows: no throw
    batch_ranges_.swap(waiting_ranges_);
    batch_storage_ = storage_.take_blocks();  // the spare blocks stay for the next adds
    segment_ops_ = nullptr;                   // its tasks are the run's now
    waiting_count_.store(0, std::memory_order_relaxed);
    waiting_range_elements_.store(0, std::memory_order_relaxed);
  }
  // Range elements take consecutive tickets where their range was added.
  std::uint64_t elements = 0;
  for (range_entry& range : batch_ranges_) {
    range.first_ticket = range.slot_before + elements;
    elements += range.count;
  }
  batch_tickets_ = batch_.size() + elements;
  run_pending_.store(batch_tickets_, std::memory_order_relaxed);
  next_batch_.store(0, std::memory_order_relaxed);
  next_spawned_.store(0, std::memory_order_relaxed);
  next_turn_.store(0, std::memory_order_relaxed);
  spawned_published_.store(0, std::memory_order_relaxed);
  next_commit_.store(0, std::memory_order_relaxed);
  stop_turn_.store(no_stop_turn, std::memory_order_relaxed);
  outstanding_.store(batch_tickets_, std::memory_order_relaxed);
  lane_.reset();
  if (batch_tickets_ == 0) {
    add_lock lock(*this);
    storage_.recycle(std::move(batch_storage_));  // blocks of adds that were cancelled
    return;
  }

  allow_runs_their_workers();
  // Runs without pinning reuse the queue's arena while the thread count stays
  // the same: a fresh arena per run had to be set up, get workers from
  // oneTBB's market and be torn down again — hundreds of microseconds per run
  // at two threads on a busy machine, a quarter of a 100 000-empty-task run.
  // A pinned run gets an arena of its own, so that every worker enters it
  // while the pinning observer watches.
  std::optional<tbb::task_arena> pinned_arena;
  std::unique_ptr<pinning_observer> pinning;
  tbb::task_arena* arena = nullptr;
  if (options.pin_threads) {
    arena = &pinned_arena.emplace(static_cast<int>(threads));
    arena->initialize();
    pinning = std::make_unique<pinning_observer>(*arena);
  } else {
    if (!arena_ || arena_threads_ != threads) {
      arena_.reset();
      arena_ = std::make_unique<tbb::task_arena>(static_cast<int>(threads));
      arena_threads_ = threads;
    }
    arena = arena_.get();
  }
  // Auto mode's controller: not an epoch to judge; the policy of this line.
  controller_run_begins(pack_site(run_site_));
  arena->execute([&] {
    tbb::task_group group;
    for (unsigned i = 1; i < threads; ++i) group.run(worker{this});
    // The calling thread is one of the run's threads (INVARIANT isolated-loops).
    tbb::this_task_arena::isolate([this] { work(); });
    group.wait();
    handoff_acquire(this);  // what the workers did (see worker)
  });
  controller_run_ends();
  // Tasks still parked in retry() go back to their ticket slots: requeued in
  // order with the unstarted ones (INVARIANT nothing-lost).
  const std::size_t blocked = parked_.count();
  std::string where;
  if (blocked > 0) {
    std::vector<parked_tasks::returned_task> returned;
    where = parked_.take_all(returned);
    returned_elements_.reserve(returned.size());  // then no push_back below can fail
    for (const parked_tasks::returned_task& r : returned) put_back_returned(r.ticket, r.task);
  }
  requeue_unstarted(blocked > 0);
  if (pinning) pinning->wait_for_workers_to_leave();
  if (first_error_) std::rethrow_exception(first_error_);
  if (blocked > 0) {
    throw tasks_blocked(
        blocked, "optimist::run_all_tasks: " + std::to_string(blocked) +
                     " task(s) wait in optimist::retry() and no task of the run is left to wake "
                     "them: " +
                     where +
                     (ordered_ ? "; in an ordered run a task that still retries at its turn "
                                 "blocks every later one"
                               : "") +
                     ". They stay queued (pending()) and run again in the next run.");
  }
}

}  // namespace detail

task_queue::task_queue() : state_(std::make_unique<detail::task_queue_state>()) {}
task_queue::~task_queue() = default;

void task_queue::push(detail::task_base& task) {
  if (detail::transaction* tx = detail::tls_current) {
    // Published only if the transaction commits; ended if it aborts.
    try {
      if (tx->on_commit.size() == tx->on_commit.capacity()) {
        tx->on_commit.reserve(tx->on_commit.empty() ? 16 : 2 * tx->on_commit.size());
      }
      detail::log_allocation(&task, &detail::destroy_task);
    } catch (...) {
      task.destroy();
      throw;
    }
    detail::task_queue_state* state = state_.get();
    detail::task_base* raw = &task;
    tx->on_commit.push_back([state, raw] { state->publish(raw); });
    return;
  }
  state_->publish(&task);
}

void task_queue::add_range(detail::range_task_base& range, std::uint64_t count) {
  if (detail::tls_current == nullptr) {
    state_->add_range(range, count);
    return;
  }
  // Inside a transaction each element is published when it commits, as a
  // task of its own: then a run (this queue's running one, if a task adds
  // them) gives each its own ticket like any task a task adds.
  struct release_on_exit {
    detail::range_task_base& range;
    ~release_on_exit() { range.release(); }
  } release{range};  // the elements hold references of their own
  for (std::uint64_t i = 0; i < count; ++i) push(*detail::make_element_task(range, i));
}

void* task_queue::begin_add(std::size_t size, std::size_t alignment,
                            const detail::task_ops* element_ops) {
  return state_->begin_add(size, alignment, element_ops);
}
void task_queue::end_add(detail::task_base& task) noexcept {
  state_->end_add(task);
}
void task_queue::cancel_add(void* memory) noexcept {
  state_->cancel_add(memory);
}

void task_queue::run(source_location site) {
  run(run_options{}, site);
}
void task_queue::run(const run_options& options, source_location site) {
  state_->run(options, site);
}
std::size_t task_queue::pending() const noexcept {
  return state_->pending();
}

task_queue& global_task_queue() {
  static task_queue queue;
  return queue;
}

unsigned resolve_thread_count(const run_options& options) {
  return detail::choose_thread_count(options.threads, &detail::hwloc_physical_cores, std::cerr);
}

}  // namespace optimist
