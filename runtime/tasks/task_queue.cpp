#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include <iostream>
#include <stdexcept>

#include "optimist/atomically.hpp"
#include "optimist/tasks.hpp"
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

// Binds each worker that enters the arena to a core of its own.
class pinning_observer final : public tbb::task_scheduler_observer {
 public:
  explicit pinning_observer(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) {
    observe(true);
  }
  ~pinning_observer() override { observe(false); }
  void on_scheduler_entry(bool) override {
    int index = tbb::this_task_arena::current_thread_index();
    if (index >= 0) pin_this_thread_to_core(static_cast<unsigned>(index));
  }
};

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
  waiting_.push(task);
  if (tls_running_queue == this && group_ != nullptr) group_->run([this] { runner(); });
}

void task_queue_state::wait_for_turn(std::uint64_t turn) const noexcept {
  for (unsigned round = 0; next_commit_.load(std::memory_order_acquire) != turn; ++round) {
    wait_round(round < 40 ? round : 40);
  }
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

void task_queue_state::runner() {
  if (stopping_.load(std::memory_order_relaxed)) return;  // tasks not started stay queued
  task_base* task = nullptr;
  std::uint64_t turn = 0;
  if (ordered_) {
    tbb::spin_mutex::scoped_lock lock(pop_mutex_);
    if (!waiting_.try_pop(task)) return;
    turn = popped_++;
  } else if (!waiting_.try_pop(task)) {
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

  // Let oneTBB start more workers than it would by default, if asked to.
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, threads);
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
    group.run([&] { tbb::parallel_for(std::size_t{0}, initial, [&](std::size_t) { runner(); }); });
    group.wait();
    group_ = nullptr;
  });
  if (first_error_) std::rethrow_exception(first_error_);
}

}  // namespace detail

task_queue::task_queue() : state_(std::make_unique<detail::task_queue_state>()) {}
task_queue::~task_queue() = default;

void task_queue::push(std::unique_ptr<detail::task_base> task) {
  if (detail::transaction* tx = detail::tls_current) {
    // Published only if the transaction commits; freed if it aborts.
    tx->on_commit.reserve(tx->on_commit.size() + 1);
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
