// serial_lane — in a task run whose blocks run serially, one worker at a
// time takes work.
//
// (Ordered runs too: there a single claimant also takes the turns in order,
// so its groups find their turn at once and nobody hands a turn over.)
//
// A serial block excludes every other thread (runtime/stm/serial_mode.hpp).
// When a run's blocks run serially at two workers or more (serial mode, or
// auto mode's serial verdict beside other threads), the workers only take
// turns at the serial gate, and each hand-over (the gate's line, a yield of
// the waiter) costs more than the waiter could have done meanwhile: the
// interest loop (one million one-word tasks) ran in 11.4 ms at two workers
// against 5.7 ms at one (tasks_bench, BM_interest_optimist_run). So the first
// worker that is about to run serial work takes the lane and keeps it while
// its blocks run serially; the others wait for the lane, not at the gate, and
// the holder runs one block after another with nobody to hand over to.
//
// INVARIANT (lane-never-blocks): a worker waits for the lane only while its
// holder makes progress (commits a group or a task at least every
// default_stall_ns).
// A holder whose task waits for another task outside the STM (spins on a
// std::atomic, joins a thread), or that lost its CPU, stops making progress;
// the waiters then go on without the lane, as if there were none, and
// contend at the gate, where give-way (serial_mode.hpp) keeps a serial block
// that waits for another thread's block from waiting for ever. So the lane
// can delay work by default_stall_ns, never stop it.
//
// Waiters spin (pauses, then a yield and about 10 microseconds of pauses per
// round: serial_lane::wait_round), they do not sleep: auto mode's controller
// compares the modes per second of CPU time of the threads running
// transactions (mode_controller.hpp), which tracks wall time only while every worker keeps
// its CPU. Sleeping waiters would make serial epochs look cheaper than they
// are in wall time, and serial would win against speculation that is faster.
// A waiter that has waited a while looks at the lane (and the run's shared
// counters) once per round only: each look takes lines the holder writes
// (the lane's progress after every group, the batch cursor after every
// chunk) and makes the holder fetch them back. Looking after every yield,
// which returns at once when no other thread wants the core, cost the holder
// about a quarter of its time (interest loop, one million one-word tasks in
// groups, two workers: 3.2-3.3 ms against 2.4 ms); a stall is still seen
// within stall_ns plus a round.
//
// The holder leaves the lane when its blocks stop running serially (auto
// mode's verdict changed: speculative blocks run side by side) and when it
// leaves the run. Per run: reset by task_queue_state::run before the
// workers start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "stm/contention_manager.hpp"

namespace optimist::detail {

class serial_lane;

// The lane this thread holds (nullptr: none), so that note_progress costs a
// thread-local load for the workers that do not hold it.
[[gnu::tls_model("initial-exec")]] inline thread_local const serial_lane* tls_lane_held = nullptr;

class serial_lane {
 public:
  // How long a holder may commit nothing before waiters go on without the
  // lane: four give-way waits (serial_mode.cpp), so that a task that waits
  // for another task is held back by less than a millisecond; longer than a
  // group of tiny tasks or a typical task of a few microseconds.
  static constexpr std::uint64_t default_stall_ns = 200'000;

  explicit serial_lane(std::uint64_t stall_ns = default_stall_ns) noexcept : stall_ns_(stall_ns) {}

  // A waiter's view of the holder's progress, kept between its calls.
  struct wait_state {
    std::uint64_t progress = 0;
    std::uint64_t since_ns = 0;  // 0: not waiting
  };

  // Before the run's workers start.
  void reset() noexcept {
    holder_.store(nullptr, std::memory_order_relaxed);
    progress_.store(0, std::memory_order_relaxed);
  }

  // serial_lane::admit()
  //   Called by a worker that is about to claim work that will run serially:
  //   true if it may (it holds the lane now, or the holder has stalled:
  //   INVARIANT lane-never-blocks), false if it should wait a round and ask
  //   again. `worker` identifies the caller (its transaction descriptor).
  bool admit(const void* worker, wait_state& w) noexcept {
    const void* holder = holder_.load(std::memory_order_relaxed);
    if (holder == worker) return true;
    if (holder == nullptr &&
        holder_.compare_exchange_strong(holder, worker, std::memory_order_relaxed)) {
      tls_lane_held = this;
      w.since_ns = 0;
      return true;
    }
    const std::uint64_t seen = progress_.load(std::memory_order_relaxed);
    const std::uint64_t now = now_ns();
    if (w.since_ns == 0 || seen != w.progress) {
      w.progress = seen;
      w.since_ns = now;
      return false;
    }
    return now - w.since_ns >= stall_ns_;
  }

  // serial_lane::leave()
  //   The caller's blocks no longer run serially, or it leaves the run: the
  //   lane is free again if the caller held it.
  void leave(const void* worker) noexcept {
    if (holder_.load(std::memory_order_relaxed) != worker) return;
    tls_lane_held = nullptr;
    holder_.store(nullptr, std::memory_order_relaxed);
  }

  // serial_lane::wait_round(rounds)
  //   A waiter's pause before it asks admit() again: wait_round's growing
  //   pauses for the first rounds, then a yield and about 10 microseconds of
  //   pauses that touch no shared line. `rounds` is the caller's count since
  //   it last got the lane (reset it to 0 then).
  static void wait_round(unsigned& rounds) noexcept {
    if (rounds < pause_rounds) {
      detail::wait_round(rounds++);
      return;
    }
    std::this_thread::yield();
    const std::uint64_t until = now_ns() + round_ns;
    while (now_ns() < until) cpu_relax(64);
  }

  // serial_lane::note_progress()
  //   After every group or task a worker committed: the holder's progress.
  void note_progress() noexcept {
    if (tls_lane_held != this) return;
    progress_.store(progress_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

 private:
  static constexpr unsigned pause_rounds = 16;  // wait_round's rounds of pauses alone
  static constexpr std::uint64_t round_ns = 10'000;

  static std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }

  // Nothing else is ordered by these: the lane only decides who takes work
  // (the tasks' own synchronisation is the run's and the STM's).
  alignas(64) std::atomic<const void*> holder_{nullptr};
  std::atomic<std::uint64_t> progress_{0};  // written by the holder only
  std::uint64_t stall_ns_;
};

}  // namespace optimist::detail
