#include "tasks/parked_tasks.hpp"

#include <map>
#include <utility>

#include "optimist/detail/engine.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

struct parked_tasks::record : waiter {
  record(parked_tasks& o, task_base* t, std::uint64_t k, source_location s) noexcept
      : waiter(&parked_tasks::on_wake), owner(o), task(t), ticket(k), site(s) {}
  parked_tasks& owner;
  task_base* task;
  std::uint64_t ticket;
  source_location site;              // of the retry() call
  std::uint64_t deadline_ns = 0;     // retry_until's (steady_now_ns), 0: none
  read_set reads;                    // what to wait on
  std::vector<doorbell_mark> marks;  // where it gave up at a doorbell (runtime/stm/doorbell.cpp)
  bool registered = false;
  record* previous = nullptr;  // in all_
  record* next = nullptr;
  record* next_woken = nullptr;
};

parked_tasks::~parked_tasks() {
  // take_all() empties the list at the end of every run; this is for a run
  // that never got there (it cannot happen without a bug, but must not leave
  // records registered in the wait table).
  while (record* r = all_) {
    unlink(*r);
    if (r->registered) unregister_waiter(*r);
    delete r;
  }
}

void parked_tasks::link(record& r) noexcept {
  tbb::spin_mutex::scoped_lock lock(all_mutex_);
  const std::uint64_t earliest = earliest_.load(std::memory_order_relaxed);
  if (r.deadline_ns != 0 && (earliest == 0 || r.deadline_ns < earliest)) {
    earliest_.store(r.deadline_ns, std::memory_order_relaxed);
  }
  r.next = all_;
  if (all_ != nullptr) all_->previous = &r;
  all_ = &r;
}

void parked_tasks::unlink(record& r) noexcept {
  tbb::spin_mutex::scoped_lock lock(all_mutex_);
  if (r.previous != nullptr) {
    r.previous->next = r.next;
  } else {
    all_ = r.next;
  }
  if (r.next != nullptr) r.next->previous = r.previous;
  r.previous = r.next = nullptr;
}

void parked_tasks::on_wake(waiter& w) noexcept {
  // Called by a committer under a wait-table lock (INVARIANT wake-once): no
  // blocking beyond the short woken-list lock, no allocation.
  auto& r = static_cast<record&>(w);
  parked_tasks& self = r.owner;
  // INVARIANT parked-is-outstanding-when-woken (a timed task still is:
  // INVARIANT timed-is-outstanding).
  if (r.deadline_ns == 0) self.outstanding_.fetch_add(1, std::memory_order_relaxed);
  tbb::spin_mutex::scoped_lock lock(self.woken_mutex_);
  r.next_woken = nullptr;
  if (self.woken_tail_ != nullptr) {
    self.woken_tail_->next_woken = &r;
  } else {
    self.woken_head_ = &r;
  }
  self.woken_tail_ = &r;
  self.woken_count_.fetch_add(1, std::memory_order_release);
}

void parked_tasks::set_aside(task_base* task, std::uint64_t ticket, transaction& tx) {
  auto* r = new record(*this, task, ticket, tx.retry_site);
  try {
    r->reserve(tx.retry_reads.size(), tx.retry_marks.size());
    r->marks = tx.retry_marks;
  } catch (...) {
    delete r;
    throw;
  }
  r->reads = std::move(tx.retry_reads);  // steals the buffer: no allocation
  tx.retry_reads.clear();
  r->deadline_ns = tx.retry_deadline_ns;
  count_.fetch_add(1, std::memory_order_relaxed);
  if (r->deadline_ns != 0) {
    // INVARIANT timed-is-outstanding: before anyone can wake and take it.
    outstanding_.fetch_add(1, std::memory_order_relaxed);
    timed_.fetch_add(1, std::memory_order_relaxed);
    if (r->reads.empty() && r->marks.empty()) {
      // Read nothing: only its deadline wakes it (wake_due), once linked.
      r->wait_unregistered();
      tx.retry_marks.clear();
      link(*r);
      return;
    }
    // Linked below before it is registered: a wake_due in between must find it
    // waiting to be woken, not woken (its initial state), or its deadline would
    // be dropped (a run that never ends). A wake meanwhile fails its
    // registration, and it is queued below.
    r->prepare_registration();
  }
  link(*r);
  if (r->deadline_ns != 0 && g_set_aside_test_hook != nullptr) g_set_aside_test_hook(*this);
  // Set before registering: once registered, a commit may wake the record and
  // another worker take and free it at once; this thread must not touch it.
  r->registered = true;
  tx.retry_marks.clear();
  if (!register_waiter(*r, r->reads.begin(), r->reads.end(), r->marks.data(),
                       r->marks.data() + r->marks.size())) {
    // Not in the wait table: no commit or ring can reach it (a wake_due can,
    // but its exchange found it registering and queued nothing).
    r->registered = false;
    on_wake(*r);  // what it read has changed already (or its deadline passed): run it again
  }
}

void parked_tasks::wake_due(std::uint64_t now) noexcept {
  // Under all_mutex_, which take_woken and take_all take before they free a
  // record: every record in all_ stays alive meanwhile (INVARIANT wake-once).
  // A commit may wake the same record at the same time: wake_waiter's
  // exchange lets one of them queue it.
  tbb::spin_mutex::scoped_lock lock(all_mutex_);
  std::uint64_t earliest = 0;
  for (record* r = all_; r != nullptr; r = r->next) {
    if (r->deadline_ns == 0 || r->is_woken()) continue;
    if (r->deadline_ns <= now) {
      wake_waiter(*r);
    } else if (earliest == 0 || r->deadline_ns < earliest) {
      earliest = r->deadline_ns;
    }
  }
  earliest_.store(earliest, std::memory_order_relaxed);
}

void parked_tasks::add_blocked(task_base* task, std::uint64_t ticket, source_location site) {
  auto* r = new record(*this, task, ticket, site);
  count_.fetch_add(1, std::memory_order_relaxed);
  link(*r);
}

task_base* parked_tasks::take_woken(std::uint64_t& ticket, const void*& rung) noexcept {
  record* r = nullptr;
  {
    tbb::spin_mutex::scoped_lock lock(woken_mutex_);
    r = woken_head_;
    if (r == nullptr) return nullptr;
    woken_head_ = r->next_woken;
    if (woken_head_ == nullptr) woken_tail_ = nullptr;
    woken_count_.fetch_sub(1, std::memory_order_relaxed);
  }
  unlink(*r);
  // INVARIANT parked-owned-once: after this no committer touches the record.
  if (r->registered) unregister_waiter(*r);
  rung = r->take_rung();  // INVARIANT doorbell-duty: the task's next run owes it
  count_.fetch_sub(1, std::memory_order_relaxed);
  if (r->deadline_ns != 0) timed_.fetch_sub(1, std::memory_order_relaxed);
  task_base* task = r->task;
  ticket = r->ticket;
  delete r;
  return task;
}

std::string parked_tasks::take_all(std::vector<returned_task>& out) {
  // Unregister first: from then on no commit (of a thread outside the run)
  // can wake a record and queue it on the woken list.
  std::vector<record*> records;
  {
    tbb::spin_mutex::scoped_lock lock(all_mutex_);
    for (record* r = all_; r != nullptr; r = r->next) records.push_back(r);
    all_ = nullptr;
  }
  for (record* r : records) {
    if (r->registered) unregister_waiter(*r);
  }
  // INVARIANT doorbell-duty: a task a ring woke does not run in this run; the
  // ring goes on to a consumer that still waits (outside the run).
  for (record* r : records) {
    if (const void* bell = r->take_rung()) ring_doorbell(bell);
  }
  {
    tbb::spin_mutex::scoped_lock lock(woken_mutex_);
    woken_head_ = woken_tail_ = nullptr;
    woken_count_.store(0, std::memory_order_relaxed);
  }
  // Where they retried, grouped by call site, in source order.
  std::map<std::pair<std::string, std::uint_least32_t>, std::size_t> sites;
  for (record* r : records) {
    ++sites[{r->site.file_name(), r->site.line()}];
    out.push_back({r->ticket, r->task});
    delete r;
  }
  count_.store(0, std::memory_order_relaxed);
  timed_.store(0, std::memory_order_relaxed);
  earliest_.store(0, std::memory_order_relaxed);
  std::string where;
  for (const auto& [site, tasks] : sites) {
    if (!where.empty()) where += ", ";
    where += "retry() at " + site.first + ":" + std::to_string(site.second) + " (" +
             std::to_string(tasks) + (tasks == 1 ? " task)" : " tasks)");
  }
  return where;
}

}  // namespace optimist::detail
