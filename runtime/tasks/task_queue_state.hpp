// The state behind an optimist::task_queue and the protocol of a run.
//
// Tasks wait in a oneTBB concurrent_queue (FIFO). A run starts one oneTBB
// task per queued task on a task_arena of the chosen size; each oneTBB task
// pops the *oldest* waiting optimist task and executes it in a transaction.
// A task added by a running task is pushed on the run's own `spawned_` queue
// when its transaction commits, and gets its own oneTBB task in the same
// run's task_group, which pops `spawned_`.
//
// INVARIANT (run-owns-its-tasks): the runners of a run pop exactly the tasks
// queued when it started and the tasks its tasks add. A task that another
// thread adds during the run goes to `waiting_` behind the run's queued tasks,
// and only as many runners pop `waiting_` as there were queued tasks, so it
// waits for the next run and never takes the place of a spawned task (which
// would then be left behind when the run returns).
//
// Ordered mode: tasks are popped in FIFO order — the run's queued tasks, then
// the spawned ones — under a small lock that hands
// out turns 0, 1, 2, ...; a task may commit only at its turn (next_commit ==
// turn). It runs speculatively, waits for its turn at the end of its body,
// then revalidates what it read against everything committed before it and
// either commits or re-runs. A task that has failed twice waits for its turn
// before running again.
//
// INVARIANT (turns-are-running): every turn below `popped` belongs to a task
// that a worker is executing, so the lowest uncommitted turn always makes
// progress — no task ever waits for a turn whose task has not started.
// INVARIANT (inevitable-at-turn): in ordered mode a task takes the
// inevitability token only at its turn (transaction::before_irrevocable), so
// the token holder never waits for an earlier task.
#pragma once

#include <tbb/concurrent_queue.h>
#include <tbb/spin_mutex.h>
#include <tbb/task_group.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

#include "optimist/tasks.hpp"

namespace optimist::detail {

class task_queue_state {
 public:
  ~task_queue_state();

  // Makes `task` (owned from now on) available to runs; during a run of this
  // queue, called from one of its tasks, also schedules it in that run.
  void publish(task_base* task);

  void run(const run_options& options);

  std::size_t pending() const noexcept { return pending_count_.load(std::memory_order_relaxed); }

 private:
  void runner(bool spawned);
  void execute(task_base* task, std::uint64_t turn);
  void wait_for_turn(std::uint64_t turn) const noexcept;
  void record_error(std::exception_ptr error);
  static void wait_for_turn_hook(void* context);

  tbb::concurrent_queue<task_base*> waiting_;
  // Tasks added by the running run's own tasks (INVARIANT run-owns-its-tasks);
  // empty between runs.
  tbb::concurrent_queue<task_base*> spawned_;
  std::atomic<std::size_t> pending_count_{0};

  // Per run. `group_` is set before the first oneTBB task starts and cleared
  // after the last one ended.
  std::atomic<bool> running_{false};
  tbb::task_group* group_ = nullptr;
  bool ordered_ = false;
  std::atomic<bool> stopping_{false};
  tbb::spin_mutex pop_mutex_;
  std::uint64_t popped_ = 0;     // guarded by pop_mutex_
  std::size_t queued_left_ = 0;  // ordered: queued tasks not yet popped; guarded by pop_mutex_
  alignas(64) std::atomic<std::uint64_t> next_commit_{0};
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
};

}  // namespace optimist::detail
