// The state behind an optimist::task_queue and the protocol of a run.
//
// Between runs, tasks wait in `waiting_`, a vector any thread appends to under
// a oneTBB spin_mutex (an append is a few nanoseconds; adding a million tasks
// is the sequential part of every loop). A run takes them all at once, in
// order, by swapping that vector with `batch_` — a vector only this run
// touches — then starts one worker loop per thread on a oneTBB
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
// INVARIANT (nothing-lost): a task pointer lives in exactly one of waiting_,
// batch_, spawned_ or a worker executing it; a run that stops early puts every
// task it did not start back at the head of waiting_, in ticket order.
#pragma once

#include <tbb/concurrent_vector.h>
#include <tbb/spin_mutex.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <vector>

#include "optimist/tasks.hpp"

namespace optimist::detail {

class task_queue_state {
 public:
  ~task_queue_state();

  // Makes `task` (owned from now on) available: to this queue's running run if
  // called from one of its tasks, else to the next run.
  void publish(task_base* task);

  void run(const run_options& options);

  std::size_t pending() const noexcept { return pending_count_.load(std::memory_order_relaxed); }

 private:
  struct worker;
  void work();  // one worker's loop
  bool claim(std::uint64_t& ticket, std::uint64_t& chunk_end);
  task_base* take(std::uint64_t ticket);
  void execute(task_base* task, std::uint64_t turn);
  void wait_for_turn(std::uint64_t turn) const noexcept;
  void record_error(std::exception_ptr error);
  void requeue_unstarted();
  static void wait_for_turn_hook(void* context);

  tbb::spin_mutex waiting_mutex_;
  std::vector<task_base*> waiting_;  // guarded by waiting_mutex_
  std::atomic<std::size_t> pending_count_{0};
  std::atomic<bool> running_{false};

  // Per run (reset by run()).
  bool ordered_ = false;
  unsigned threads_ = 1;
  std::vector<task_base*> batch_;  // entries become nullptr when taken
  tbb::concurrent_vector<std::atomic<task_base*>> spawned_;
  tbb::spin_mutex publish_mutex_;                           // serialises publications into spawned_
  alignas(64) std::atomic<std::uint64_t> next_batch_{0};    // unordered: next batch ticket
  alignas(64) std::atomic<std::uint64_t> next_spawned_{0};  // unordered: next spawned index
  alignas(64) std::atomic<std::uint64_t> next_turn_{0};     // ordered: next turn to claim
  alignas(64) std::atomic<std::uint64_t> spawned_published_{0};
  alignas(64) std::atomic<std::uint64_t> outstanding_{0};
  alignas(64) std::atomic<std::uint64_t> next_commit_{0};
  std::atomic<bool> stopping_{false};
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
};

}  // namespace optimist::detail
