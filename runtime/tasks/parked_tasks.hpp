// parked_tasks — the tasks of a run that called optimist::retry().
//
// A task whose transaction retries must not hold its worker. The worker sets
// it aside here: the task is registered in the STM's wait table on the orecs
// its attempt read (runtime/stm/retry_wait.cpp), with a callback instead of a
// sleeping thread, and the worker moves on. The first commit that changes one
// of those orecs calls the callback, which counts the task as outstanding
// again and queues it on the woken list; a worker takes it from there
// (take_woken) and runs it again.
//
// When the run has nothing left to do (no task outstanding), the tasks still
// parked can only be woken by a thread outside the run, which the run does not
// wait for: take_all() unregisters them and the run returns each to its ticket slot so
// that the run's usual requeueing keeps them (INVARIANT nothing-lost,
// task_queue_state.hpp), and describes them for optimist::tasks_blocked. In
// ordered mode a task that still retries at its turn is blocked at once
// (add_blocked): nothing after it may commit first.
//
// A task whose retry had a deadline (optimist::retry_until, tqueue::pop_until)
// is woken by a commit or ring as above, or by a worker once the deadline has
// passed (wake_due). INVARIANT (timed-is-outstanding): such a task counts as
// outstanding from set_aside until a worker takes it again (its wake adds
// nothing), so the run does not end while it waits; workers with nothing else
// to do sleep meanwhile (task_queue.cpp). One that read nothing waits for its
// deadline alone, registered nowhere.
//
// INVARIANT (parked-is-outstanding-when-woken): the callback raises the run's
// outstanding count before the task can be taken, and a commit by one of the
// run's own tasks wakes it while that task is still outstanding: the count
// never reaches zero while a woken task waits to run.
// INVARIANT (parked-owned-once): a parked task is in exactly one of: parked
// (in all_), woken (in all_ and on the woken list), taken (in neither, owned by
// the worker that took it). Records are freed only after unregistering, so a
// committer never calls back into a freed record (INVARIANT wake-once).
#pragma once

#include <tbb/spin_mutex.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "optimist/source_location.hpp"
#include "optimist/tasks.hpp"
#include "stm/read_set.hpp"
#include "stm/retry_wait.hpp"

namespace optimist::detail {

class transaction;

class parked_tasks;

// Test seam: called by set_aside between publishing a timed record (link) and
// registering it in the wait table, where a worker's wake_due may run;
// nullptr (the default) in use.
inline void (*g_set_aside_test_hook)(parked_tasks&) = nullptr;

class parked_tasks {
 public:
  // `outstanding`: the run's count of tasks published and not finished.
  explicit parked_tasks(std::atomic<std::uint64_t>& outstanding) noexcept
      : outstanding_(outstanding) {}
  parked_tasks(const parked_tasks&) = delete;
  parked_tasks& operator=(const parked_tasks&) = delete;
  ~parked_tasks();

  // Sets `task` (ticket `ticket`) aside after its transaction retried in
  // `tx` (whose retry_reads and retry_site describe the wait; the read set is
  // taken over). If what it read has already changed, it is woken at once.
  // Throws std::bad_alloc; then the task was not taken.
  void set_aside(task_base* task, std::uint64_t ticket, transaction& tx);
  // Ordered mode: `task` retried at its turn; it waits for no commit.
  void add_blocked(task_base* task, std::uint64_t ticket, source_location site);

  // A woken task to run again (its ticket in `ticket`), or nullptr. `rung`:
  // the doorbell whose ring woke it, or nullptr; its next run owes that ring
  // (INVARIANT doorbell-duty, runtime/stm/doorbell.cpp).
  bool any_woken() const noexcept { return woken_count_.load(std::memory_order_acquire) != 0; }
  task_base* take_woken(std::uint64_t& ticket, const void*& rung) noexcept;

  // Set-aside tasks (woken or not) not yet taken.
  std::size_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

  // Deadlines (INVARIANT timed-is-outstanding). `now`: steady_now_ns().
  //   timed(): set-aside tasks with a deadline not yet taken (woken or not).
  //   earliest_deadline(): the earliest deadline of those not yet woken, or
  //   one that has passed; 0 if none. One relaxed load: cheap to poll.
  //   wake_due(now): wakes every one whose deadline is not after `now`.
  std::size_t timed() const noexcept { return timed_.load(std::memory_order_relaxed); }
  std::uint64_t earliest_deadline() const noexcept {
    return earliest_.load(std::memory_order_relaxed);
  }
  void wake_due(std::uint64_t now) noexcept;

  // After the run's workers have all returned: unregisters every task still
  // here and hands it over in `out` with its ticket (the run puts it back into
  // its ticket slot), and returns a description of where they retried, e.g.
  // "retry() at queue.cpp:12 (2 tasks), retry() at queue.cpp:40 (1 task)".
  struct returned_task {
    std::uint64_t ticket;
    task_base* task;
  };
  std::string take_all(std::vector<returned_task>& out);

 private:
  struct record;
  static void on_wake(waiter& w) noexcept;
  void link(record& r) noexcept;
  void unlink(record& r) noexcept;

  std::atomic<std::uint64_t>& outstanding_;
  std::atomic<std::size_t> count_{0};
  tbb::spin_mutex all_mutex_;
  record* all_ = nullptr;  // guarded by all_mutex_
  tbb::spin_mutex woken_mutex_;
  record* woken_head_ = nullptr;  // guarded by woken_mutex_; FIFO through next_woken
  record* woken_tail_ = nullptr;
  std::atomic<std::size_t> woken_count_{0};
  std::atomic<std::size_t> timed_{0};
  std::atomic<std::uint64_t> earliest_{0};  // written under all_mutex_
};

}  // namespace optimist::detail
