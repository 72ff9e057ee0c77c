// Auto mode's controller beside other threads (mode_controller.hpp): the
// policy, the epochs that feed it, and what stats() and the report show of it.
#include "stm/mode_controller.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <mutex>

#include "profile/profile_clock.hpp"
#include "profile/site_key.hpp"
#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"

namespace optimist::detail {

void mode_policy::settle(unsigned interval) noexcept {
  sampling_ = false;
  conflict_sample_ = false;
  sample_wins_ = 0;
  warmup_left_ = 0;
  interval_ = interval;
  countdown_ = interval * conflict_step;
}

bool mode_policy::observe(const epoch_figures& e, mode_switch& out) noexcept {
  if (e.commits < min_commits || e.cpu_ns == 0) return false;  // idle: nothing to judge
  double per_s = static_cast<double>(e.commits) * 1e9 / static_cast<double>(e.cpu_ns);
  const bool speculative = !next_serial();
  if (speculative)
    aborts_per_commit_ = static_cast<double>(e.aborts) / static_cast<double>(e.commits);
  if (e.threads != threads_) {
    // Another regime: what was measured before says little. Keep the chosen
    // mode, measure it afresh, and the other one soon.
    threads_ = e.threads;
    chosen_per_s_ = sampling_ ? 0 : per_s;
    other_per_s_ = 0;
    settle(first_interval);
    return false;
  }
  if (sampling_ && warmup_left_ > 0) {
    --warmup_left_;  // the switch itself: not judged
    return false;
  }
  if (!sampling_) {
    chosen_per_s_ = chosen_per_s_ == 0 ? per_s : (chosen_per_s_ + per_s) / 2;
    const bool conflict = speculative && aborts_per_commit_ >= conflict_aborts_per_commit;
    const unsigned step = conflict ? conflict_step * conflict_step : conflict_step;
    countdown_ = countdown_ > step ? countdown_ - step : 0;
    if (countdown_ == 0) {
      sampling_ = true;
      conflict_sample_ = conflict;
      warmup_left_ = warmup_epochs;
    }
    return false;
  }
  // A sample of the other mode: it must win confirm_epochs times in a row
  // (noise on a loaded machine makes single epochs lie; the mean is reported).
  if (chosen_per_s_ > 0 && per_s > chosen_per_s_ * (1 + margin)) {
    other_per_s_ =
        sample_wins_ == 0 ? per_s : (other_per_s_ * sample_wins_ + per_s) / (sample_wins_ + 1);
    if (++sample_wins_ < confirm_epochs) return false;  // one more sample epoch
    per_s = other_per_s_;
    out = mode_switch{};
    out.to_serial = !chosen_serial_;
    out.reason = conflict_sample_ ? mode_switch_reason::conflict : mode_switch_reason::sampled;
    out.speculative_per_s = chosen_serial_ ? per_s : chosen_per_s_;
    out.serial_per_s = chosen_serial_ ? chosen_per_s_ : per_s;
    out.aborts_per_commit = aborts_per_commit_;
    out.threads = e.threads;
    other_per_s_ = chosen_per_s_;
    chosen_per_s_ = per_s;
    chosen_serial_ = !chosen_serial_;
    settle(first_interval);
    return true;
  }
  other_per_s_ = per_s;
  settle(std::min(interval_ * 2, max_interval));
  return false;
}

namespace {

constexpr std::size_t log_capacity = 256;

struct logged_switch {
  std::uint64_t at_ns = 0;
  std::uint64_t run_site = 0;  // the policy's task-run line (site_key), 0: outside runs
  mode_switch what;            // its run_* strings filled in when read (mode_switches_since)
};

struct controller {
  // Ticks read the deadline; one of them takes `judging` and ends the epoch.
  alignas(64) std::atomic<std::uint64_t> deadline_ns{0};
  std::atomic<bool> judging{false};
  std::atomic<std::uint64_t> reset_generation{0};

  // Guarded by `judging`.
  mode_policy policy;
  std::uint64_t seen_generation = 0;
  bool started = false;
  std::uint64_t epoch_start_ns = 0;
  std::uint64_t commits_at_start = 0;
  std::uint64_t aborts_at_start = 0;
  std::uint64_t census_at_start = 0;
  std::uint64_t cpu_at_start = 0;         // process clock
  std::uint64_t thread_cpu_at_start = 0;  // the registered threads' clocks, summed
  bool thread_cpu_at_start_read = false;  // ... all of which could be read
  std::uint64_t boundaries_at_start = 0;  // g_controller_run_boundaries
  unsigned unjudged_boundaries = 0;       // epochs in a row skipped for a run boundary
  // Per run site (mode_controller.hpp): the site whose policy runs, and the
  // policies of others (when all slots are used, remembered_next names the
  // one to overwrite: round robin, about the oldest).
  std::uint64_t run_site = 0;
  struct remembered_policy {
    bool used = false;
    std::uint64_t run_site = 0;
    mode_policy policy;
  };
  std::array<remembered_policy, remembered_run_sites> remembered{};
  std::size_t remembered_next = 0;

  // Totals: written by the judge (relaxed load + store), read by stats().
  std::atomic<std::uint64_t> speculative_ns{0};
  std::atomic<std::uint64_t> serial_ns{0};
  std::atomic<std::uint64_t> speculative_blocks{0};
  std::atomic<std::uint64_t> serial_blocks{0};
  std::atomic<std::uint64_t> samples{0};
  std::atomic<std::uint64_t> to_serial{0};
  std::atomic<std::uint64_t> to_speculative{0};
  std::atomic<std::uint64_t> by_reason[mode_switch_reason_count] = {};
  std::atomic<std::uint64_t> first_epoch_ns{0};

  // The switch log: a ring, newest at (next - 1) % capacity.
  std::mutex log_mutex;
  std::array<logged_switch, log_capacity> log;
  std::size_t next = 0;
};

controller& the_controller() {
  static controller c;
  return c;
}

// CPU time used by the whole process: the cost side of the measure
// (mode_controller.hpp). One system call per epoch.
std::uint64_t process_cpu_ns() noexcept {
  timespec t{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0) return steady_ns();
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(t.tv_nsec);
}

// CPU time used so far by the threads that hold a descriptor, each read on
// its own clock, summed: the cost side of the measure (mode_controller.hpp).
// One system call per such thread per epoch, on the judging thread; beyond
// max_clocked_threads the process clock serves instead (a thousand threads
// would make the judge spend its epoch reading clocks). False then, and if a
// clock could not be read (a thread ending meanwhile: the census changes
// too, and the epoch is not judged; a platform without thread clocks).
constexpr unsigned max_clocked_threads = 64;
bool registered_threads_cpu_ns(std::uint64_t& total) noexcept {
  total = 0;
  bool all_read = true;
  unsigned threads = 0;
  for_each_registered([&](const transaction& t) {
    if (!all_read || !t.in_use.load(std::memory_order_relaxed)) return;
    if (++threads > max_clocked_threads) {
      all_read = false;
      return;
    }
    const int clock = t.cpu_clock.load(std::memory_order_relaxed);
    timespec ts{};
    if (clock == -1 || clock_gettime(static_cast<clockid_t>(clock), &ts) != 0) {
      all_read = false;
      return;
    }
    total += static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
             static_cast<std::uint64_t>(ts.tv_nsec);
  });
  return all_read;
}

void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

void record_switch(controller& c, std::uint64_t now, const mode_switch& s) noexcept {
  add(s.to_serial ? c.to_serial : c.to_speculative, 1);
  add(c.by_reason[static_cast<std::size_t>(s.reason)], 1);
  std::lock_guard<std::mutex> lock(c.log_mutex);
  c.log[c.next % log_capacity] = logged_switch{now, c.run_site, s};
  ++c.next;
}

// Per run site (mode_controller.hpp): takes out the policy of `site` (a
// fresh one for a site not seen) and puts the running one away under its
// site, in a free slot or over the oldest. A policy that runs has no copy in
// `remembered` (taking it out frees its slot).
void change_run_site(controller& c, std::uint64_t site) noexcept {
  mode_policy next{};
  for (controller::remembered_policy& r : c.remembered) {
    if (r.used && r.run_site == site) {
      next = r.policy;
      r.used = false;
    }
  }
  controller::remembered_policy* slot = nullptr;
  for (controller::remembered_policy& r : c.remembered) {
    if (!r.used) {
      slot = &r;
      break;
    }
  }
  if (slot == nullptr) {
    slot = &c.remembered[c.remembered_next];
    c.remembered_next = (c.remembered_next + 1) % c.remembered.size();
  }
  *slot = {true, c.run_site, c.policy};
  c.policy = next;
  c.run_site = site;
}

// The judge: ends the epoch that began at epoch_start_ns and starts the next.
void end_epoch(controller& c, std::uint64_t now) noexcept {
  const std::uint64_t generation = c.reset_generation.load(std::memory_order_acquire);
  if (generation != c.seen_generation) {
    c.seen_generation = generation;
    c.policy = mode_policy{};
    c.started = false;
    c.remembered = {};
    c.remembered_next = 0;
    c.run_site = g_controller_run_site.load(std::memory_order_relaxed);
  }
  const std::uint64_t run_site = g_controller_run_site.load(std::memory_order_relaxed);
  const std::uint64_t census = census_now();
  std::uint64_t commits = 0;
  std::uint64_t aborts = 0;
  for_each_registered([&](const transaction& t) {
    commits += t.counters.commits.load(std::memory_order_relaxed) +
               t.counters.serial_commits.load(std::memory_order_relaxed) +
               t.counters.grouped_tasks.load(std::memory_order_relaxed);
    aborts += t.counters.aborts.load(std::memory_order_relaxed);
  });
  const std::uint64_t epoch_ns =
      std::max<std::uint64_t>(1, g_controller_epoch_ns.load(std::memory_order_relaxed));
  const std::uint64_t cpu = process_cpu_ns();
  std::uint64_t thread_cpu = 0;
  const bool thread_cpu_read = registered_threads_cpu_ns(thread_cpu);
  // A thread that registered or left while the clocks were read: this epoch
  // and the next are not judged (the next compares with `census`).
  const bool census_steady = census_now() == census;
  const std::uint64_t boundaries = g_controller_run_boundaries.load(std::memory_order_relaxed);
  if (c.started) {
    epoch_figures e;
    e.serial = c.policy.next_serial();
    e.sample = c.policy.sampling();
    e.commits = commits - c.commits_at_start;
    e.aborts = aborts - c.aborts_at_start;
    const std::uint64_t wall_ns = now - c.epoch_start_ns;
    // The threads' own clocks where both ends read them all, not the process
    // clock: that one charged both modes for the CPU time of threads that
    // run no transaction (a busy thread of the program made every epoch cost
    // two CPUs instead of one: ModeController.ABusyThreadOutsideTheStm...),
    // which pulls the two rates together, and it lags for a thread running
    // on another CPU until a scheduler tick (a probe with two busy threads
    // read 1.0, 2.0 or 2.96 ms per 1 ms on it, 2.0 each time on theirs).
    const bool by_threads =
        c.thread_cpu_at_start_read && thread_cpu_read && thread_cpu >= c.thread_cpu_at_start;
    e.cpu_ns = by_threads ? thread_cpu - c.thread_cpu_at_start : cpu - c.cpu_at_start;
    e.wall_ns = wall_ns;
    e.threads = static_cast<unsigned>(c.census_at_start & census_count_mask);
    const bool stale = wall_ns > stale_epochs * epoch_ns;  // nobody ticked: idle
    if (!stale) {
      add(e.serial ? c.serial_ns : c.speculative_ns, wall_ns);
      add(e.serial ? c.serial_blocks : c.speculative_blocks, e.commits);
    }
    // Test seam: the figures judged (the totals above stay as measured).
    if (auto* hook = g_controller_test_figures.load(std::memory_order_relaxed)) hook(e);
    // Run boundaries (mode_controller.hpp): skipped, a few in a row at most.
    const bool held_boundary = boundaries != c.boundaries_at_start;
    bool boundary = held_boundary;
    if (boundary && c.unjudged_boundaries >= max_unjudged_boundaries) boundary = false;
    c.unjudged_boundaries = boundary ? c.unjudged_boundaries + 1 : 0;
    if (!stale && census == c.census_at_start && census_steady && !boundary) {
      mode_switch s;
      if (c.policy.observe(e, s)) record_switch(c, now, s);
      if (c.policy.sampling() && !e.sample) add(c.samples, 1);
    }
    // A run from another line began: its policy runs from the next epoch on,
    // after this epoch was judged or skipped (see mode_controller.hpp). Also
    // when the epoch was judged by force (after max_unjudged_boundaries in a
    // row): the run's whole length followed the old line's policy, and its
    // end stored that policy under the new line.
    if (held_boundary && run_site != c.run_site) change_run_site(c, run_site);
  } else {
    if (c.first_epoch_ns.load(std::memory_order_relaxed) == 0)
      c.first_epoch_ns.store(now, std::memory_order_relaxed);
    if (run_site != c.run_site) change_run_site(c, run_site);
  }
  c.started = true;
  c.epoch_start_ns = now;
  c.commits_at_start = commits;
  c.aborts_at_start = aborts;
  c.census_at_start = census;
  c.cpu_at_start = cpu;
  c.thread_cpu_at_start = thread_cpu;
  c.thread_cpu_at_start_read = thread_cpu_read;
  c.boundaries_at_start = boundaries;
  const bool serial = c.policy.next_serial();
  if (g_auto_verdict.serial.load(std::memory_order_relaxed) != serial)
    g_auto_verdict.serial.store(serial, std::memory_order_relaxed);
  c.deadline_ns.store(now + epoch_ns, std::memory_order_relaxed);
}

}  // namespace

void controller_tick() noexcept {
  const std::uint32_t blocks = g_controller_tick_blocks.load(std::memory_order_relaxed);
  tls_controller_countdown = blocks > 0 ? blocks - 1 : 0;
  controller& c = the_controller();
  const std::uint64_t now = steady_ns();
  if (now < c.deadline_ns.load(std::memory_order_relaxed)) return;
  if (c.judging.load(std::memory_order_relaxed) ||
      c.judging.exchange(true, std::memory_order_acquire)) {
    return;  // another thread is judging this epoch
  }
  end_epoch(c, now);
  c.judging.store(false, std::memory_order_release);
}

void reset_mode_controller() noexcept {
  controller& c = the_controller();
  c.reset_generation.fetch_add(1, std::memory_order_release);
  g_auto_verdict.serial.store(false, std::memory_order_relaxed);
  c.deadline_ns.store(0, std::memory_order_relaxed);  // the next tick starts afresh
}

void add_auto_mode_totals(auto_mode_statistics& s) noexcept {
  controller& c = the_controller();
  auto get = [](const std::atomic<std::uint64_t>& n) { return n.load(std::memory_order_relaxed); };
  s.speculative_s += static_cast<double>(get(c.speculative_ns)) * 1e-9;
  s.serial_s += static_cast<double>(get(c.serial_ns)) * 1e-9;
  s.speculative_blocks += get(c.speculative_blocks);
  s.serial_blocks += get(c.serial_blocks);
  s.samples += get(c.samples);
  s.to_serial += get(c.to_serial);
  s.to_speculative += get(c.to_speculative);
  for (std::size_t i = 0; i < mode_switch_reason_count; ++i)
    s.switches_by_reason[i] += get(c.by_reason[i]);
}

std::vector<mode_switch> mode_switches_since(std::uint64_t origin_ns) {
  controller& c = the_controller();
  std::vector<mode_switch> out;
  std::lock_guard<std::mutex> lock(c.log_mutex);
  const std::size_t count = std::min(c.next, log_capacity);
  for (std::size_t i = c.next - count; i < c.next; ++i) {
    const logged_switch& l = c.log[i % log_capacity];
    if (l.at_ns < origin_ns) continue;
    out.push_back(l.what);
    out.back().at_s = static_cast<double>(l.at_ns - origin_ns) * 1e-9;
    if (l.run_site != 0) {
      const source_location run = unpack_site(l.run_site);
      out.back().run_file = run.file_name();
      out.back().run_line = static_cast<unsigned>(run.line());
      out.back().run_function = run.function_name();
    }
  }
  return out;
}

}  // namespace optimist::detail

namespace optimist {

std::vector<mode_switch> mode_switches() {
  std::uint64_t origin = detail::g_mode_switches_origin_ns.load(std::memory_order_relaxed);
  if (origin == 0) origin = detail::the_controller().first_epoch_ns.load(std::memory_order_relaxed);
  return detail::mode_switches_since(origin);
}

std::string_view to_string(mode_switch_reason reason) noexcept {
  switch (reason) {
    case mode_switch_reason::conflict:
      return "conflict";
    case mode_switch_reason::sampled:
      return "sampled";
    case mode_switch_reason::count_:
      break;
  }
  return "unknown";
}

}  // namespace optimist
