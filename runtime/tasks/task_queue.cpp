#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "optimist/atomically.hpp"
#include "optimist/tasks.hpp"
#include "profile/recorder.hpp"
#include "stm/contention_manager.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"
#include "tasks/task_queue_state.hpp"
#include "tasks/topology.hpp"

namespace optimist {

namespace detail {

namespace {

// The queue whose task this thread is executing, or nullptr.
thread_local task_queue_state* tls_running_queue = nullptr;

void destroy_task(void* task) noexcept {
  delete static_cast<task_base*>(task);
}

struct turn_context {
  const task_queue_state* queue;
  std::uint64_t turn;
};

// Binds each thread that enters the arena to a core of its own, and gives it
// its old binding back when it leaves: the calling thread and oneTBB's workers
// live on after the run, and must not stay bound to one core.
class pinning_observer final : public tbb::task_scheduler_observer {
 public:
  explicit pinning_observer(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) {
    observe(true);
  }
  ~pinning_observer() override { observe(false); }
  void on_scheduler_entry(bool is_worker) override {
    if (is_worker) workers_inside_.fetch_add(1, std::memory_order_relaxed);
    int index = tbb::this_task_arena::current_thread_index();
    if (index >= 0) pin_this_thread_to_core(static_cast<unsigned>(index));
  }
  void on_scheduler_exit(bool is_worker) override {
    restore_this_thread_binding();
    if (is_worker) workers_inside_.fetch_sub(1, std::memory_order_release);
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
constexpr std::size_t parallelism_ceiling = 4096;  // as OPTIMIST_THREADS allows

void allow_runs_their_workers() {
  static const tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                                         parallelism_ceiling);
}

}  // namespace

task_queue_state::~task_queue_state() {
  std::size_t dropped = 0;
  task_base* task = nullptr;
  while (waiting_.try_pop(task)) {
    delete task;
    ++dropped;
  }
  if (dropped > 0) {
    std::cerr << "optimist: a task queue was destroyed with " << dropped
              << " task(s) that never ran (call run_all_tasks() / run() before it goes)\n";
  }
}

void task_queue_state::publish(task_base* task) {
  pending_count_.fetch_add(1, std::memory_order_relaxed);  // before the push: never negative
  if (tls_running_queue == this && group_ != nullptr) {
    // INVARIANT run-owns-its-tasks: a task's child runs in the same run.
    spawned_.push(task);
    group_->run([this] { runner(/*spawned=*/true); });
    return;
  }
  waiting_.push(task);
}

void task_queue_state::wait_for_turn(std::uint64_t turn) const noexcept {
  if (next_commit_.load(std::memory_order_acquire) == turn) return;
  std::uint64_t waited = record_wait_begin();
  for (unsigned round = 0; next_commit_.load(std::memory_order_acquire) != turn; ++round) {
    wait_round(round < 40 ? round : 40);
  }
  if (waited != 0) record_wait_end(this_thread_transaction(), waited, false);
}

void task_queue_state::wait_for_turn_hook(void* context) {
  auto* c = static_cast<turn_context*>(context);
  c->queue->wait_for_turn(c->turn);
}

void task_queue_state::record_error(std::exception_ptr error) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (!first_error_) first_error_ = std::move(error);
  stopping_.store(true, std::memory_order_relaxed);
}

void task_queue_state::runner(bool spawned) {
  if (stopping_.load(std::memory_order_relaxed)) return;  // tasks not started stay queued
  task_base* task = nullptr;
  std::uint64_t turn = 0;
  if (ordered_) {
    // Any runner takes the next task in queue order: the run's queued tasks
    // first, then the spawned ones in the order they were published.
    tbb::spin_mutex::scoped_lock lock(pop_mutex_);
    if (queued_left_ > 0 && waiting_.try_pop(task)) {
      --queued_left_;
    } else {
      queued_left_ = 0;
      if (!spawned_.try_pop(task)) return;
    }
    turn = popped_++;
  } else if (!(spawned ? spawned_ : waiting_).try_pop(task)) {
    return;
  }
  pending_count_.fetch_sub(1, std::memory_order_relaxed);
  execute(task, turn);
}

void task_queue_state::execute(task_base* task, std::uint64_t turn) {
  std::unique_ptr<task_base> owned(task);
  task_queue_state* outer = tls_running_queue;
  tls_running_queue = this;
  transaction& self = this_thread_transaction();
  turn_context context{this, turn};
  if (ordered_) {
    self.before_irrevocable = &wait_for_turn_hook;
    self.before_irrevocable_context = &context;
  }
  unsigned attempts = 0;
  try {
    atomically([&] {
      if (!ordered_) {
        task->run();
        return;
      }
      if (attempts++ >= 2) wait_for_turn(turn);  // lost twice: stop speculating
      try {
        task->run();
      } catch (...) {
        // Only an exception the sequential loop would also have thrown counts:
        // check against everything committed before this task.
        wait_for_turn(turn);
        tls_current->revalidate();
        throw;
      }
      wait_for_turn(turn);
      tls_current->revalidate();  // serialise after every earlier task, or re-run
    });
  } catch (...) {
    record_error(std::current_exception());
  }
  self.before_irrevocable = nullptr;
  self.before_irrevocable_context = nullptr;
  if (ordered_) {
    wait_for_turn(turn);  // INVARIANT turns-are-running: hand the turn on exactly once
    next_commit_.store(turn + 1, std::memory_order_release);
  }
  tls_running_queue = outer;
}

void task_queue_state::run(const run_options& options) {
  if (tls_running_queue != nullptr) {
    throw std::logic_error(
        "optimist::run_all_tasks: called from inside a task; add tasks with add_task and the "
        "running run will execute them");
  }
  if (tls_current != nullptr) {
    throw std::logic_error("optimist::run_all_tasks: called inside an atomic block");
  }
  const unsigned threads = resolve_thread_count(options);
  bool expected = false;
  if (!running_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    throw std::logic_error(
        "optimist::task_queue::run: this queue is already running on another "
        "thread");
  }
  struct clear_running {
    std::atomic<bool>& flag;
    ~clear_running() { flag.store(false, std::memory_order_release); }
  } clear{running_};

  ordered_ = options.ordered;
  stopping_.store(false, std::memory_order_relaxed);
  popped_ = 0;
  next_commit_.store(0, std::memory_order_relaxed);
  first_error_ = nullptr;

  allow_runs_their_workers();
  tbb::task_arena arena(static_cast<int>(threads));
  std::unique_ptr<pinning_observer> pinning;
  if (options.pin_threads) {
    arena.initialize();
    pinning = std::make_unique<pinning_observer>(arena);
  }
  arena.execute([&] {
    tbb::task_group group;
    group_ = &group;
    const std::size_t initial = pending_count_.load(std::memory_order_relaxed);
    queued_left_ = initial;
    group.run([&] {
      tbb::parallel_for(std::size_t{0}, initial, [&](std::size_t) { runner(/*spawned=*/false); });
    });
    group.wait();
    group_ = nullptr;
  });
  // After a failure, spawned tasks not started wait for the next run too.
  for (task_base* task = nullptr; spawned_.try_pop(task);) waiting_.push(task);
  if (pinning) pinning->wait_for_workers_to_leave();
  if (first_error_) std::rethrow_exception(first_error_);
}

}  // namespace detail

task_queue::task_queue() : state_(std::make_unique<detail::task_queue_state>()) {}
task_queue::~task_queue() = default;

void task_queue::push(std::unique_ptr<detail::task_base> task) {
  if (detail::transaction* tx = detail::tls_current) {
    // Published only if the transaction commits; freed if it aborts.
    if (tx->on_commit.size() == tx->on_commit.capacity()) {
      tx->on_commit.reserve(tx->on_commit.empty() ? 16 : 2 * tx->on_commit.size());
    }
    detail::log_allocation(task.get(), &detail::destroy_task);
    detail::task_base* raw = task.release();
    detail::task_queue_state* state = state_.get();
    tx->on_commit.push_back([state, raw] { state->publish(raw); });
    return;
  }
  state_->publish(task.release());
}

void task_queue::run() {
  run(run_options{});
}
void task_queue::run(const run_options& options) {
  state_->run(options);
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
