// See recorder.hpp. Also: optimist::report::enable / snapshot / reset and the
// OPTIMIST_REPORT environment variable.
#include "profile/recorder.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "profile/hardware_blocks.hpp"
#include "profile/orec_sites.hpp"
#include "profile/profile_clock.hpp"
#include "profile/report_file.hpp"
#include "profile/trace_event.hpp"
#include "stm/mode_controller.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

struct group_key {
  report::conflict_kind kind;
  site_key aborted;
  bool aborted_block_only;
  site_key other;
  friend bool operator<(const group_key& a, const group_key& b) {
    return std::tie(a.kind, a.aborted, a.aborted_block_only, a.other) <
           std::tie(b.kind, b.aborted, b.aborted_block_only, b.other);
  }
};

struct group_totals {
  std::uint64_t count = 0;
  std::uint64_t ticks = 0;
};

struct inevitable_totals {
  std::uint64_t count = 0;
  std::uint64_t inevitable_ticks = 0;
  std::uint64_t blocked_ticks = 0;
  bool block_only = false;
};

struct raw_event {
  trace_event::type kind;
  report::conflict_kind conflict;
  bool block_only;
  std::uint64_t begin;
  std::uint64_t end;
  std::uint64_t commit_ts;
  site_key site;
};

constexpr std::size_t max_events_per_thread = 1u << 20;

void add(std::atomic<std::uint64_t>& counter, std::uint64_t amount) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
}

// The last transaction to become inevitable (never cleared, unlike
// g_inevitable_site), and how many have: whom to charge a wait for the token
// that began before its holder had said where it became inevitable.
std::atomic<site_key> g_last_inevitable_site{0};
std::atomic<bool> g_last_inevitable_starved{false};
std::atomic<std::uint64_t> g_inevitable_generation{0};

// What a thread saw when it began to wait (record_wait_begin): the holder of
// the token, if it had said where it became inevitable, and the generation.
thread_local site_key t_wait_holder = 0;
thread_local bool t_wait_holder_starved = false;
thread_local std::uint64_t t_wait_generation = 0;

}  // namespace

class thread_recorder {
 public:
  explicit thread_recorder(unsigned index) : index(index) {}

  const unsigned index;
  std::atomic<std::uint64_t> committed{0}, aborted{0}, waiting{0}, outside{0};
  std::atomic<std::uint64_t> commits{0}, aborts{0};
  // Ticks the running attempt spent waiting (for the inevitability token or an
  // ordered-mode turn); written by the owner thread only (atomic for the
  // shared overflow recorder). INVARIANT (times-disjoint): a wait is waiting
  // time only, so it is left out of the attempt's committed or aborted time
  // and out of the time outside transactions.
  std::atomic<std::uint64_t> attempt_waiting{0};
  std::mutex mutex;  // guards the members below
  std::map<group_key, group_totals> conflicts;
  std::vector<raw_event> events;
};

namespace {

struct recording_state {
  std::mutex mutex;  // guards recorders (the list) and inevitables
  std::vector<std::unique_ptr<thread_recorder>> recorders;
  std::map<std::pair<site_key, bool>, inevitable_totals> inevitables;  // (site, starved)
  std::atomic<std::uint64_t> epoch_ticks{0};
  std::atomic<std::uint64_t> epoch_ns{0};
  // Every thread's hardware counters at the last reset() or enable()
  // (hardware_blocks.hpp).
  std::mutex hardware_mutex;
  std::vector<hardware_site_sample> hardware_baseline;
  auto_mode_statistics auto_mode_baseline;   // likewise, auto mode's controller
  std::uint64_t grouped_tasks_baseline = 0;  // likewise, the task runs' grouped tasks
};

recording_state& state() {
  static recording_state s;
  return s;
}

// Where a thread records when no recorder of its own could be allocated:
// shared, so its times are summed into one row, but nothing is lost.
thread_recorder& overflow_recorder() {
  static thread_recorder shared(~0u);
  return shared;
}

thread_recorder& recorder_of(transaction& tx) noexcept {
  if (tx.recorder == nullptr) {
    try {
      recording_state& s = state();
      std::lock_guard<std::mutex> lock(s.mutex);
      auto fresh = std::make_unique<thread_recorder>(static_cast<unsigned>(s.recorders.size()));
      s.recorders.push_back(std::move(fresh));
      tx.recorder = s.recorders.back().get();
    } catch (...) {
      return overflow_recorder();
    }
  }
  return *tx.recorder;
}

bool is_inside_optimist_header(const char* file) {
  return file != nullptr && std::strstr(file, "optimist/tvar.hpp") != nullptr;
}

// The access site, or the atomic block's when the access site says nothing
// (a tvar conversion operator cannot learn its caller's line).
std::pair<site_key, bool> aborted_site(const transaction& tx, const source_location& site) {
  // INVARIANT deferred-site-resolved: taken as it is, unread (a return address
  // of -fgnu-tm code names its access even where it has no line).
  if (is_deferred_site(site)) return {pack_site(site), false};
  if (site.line() == 0 || is_inside_optimist_header(site.file_name())) {
    return {pack_site(tx.block_site), true};
  }
  return {pack_site(site), false};
}

using site_identity = std::tuple<std::string, unsigned, std::string, bool>;

site_identity identity_of(const report::site& s) {
  return {s.file, s.line, s.function, s.block_only};
}

report::site to_site(site_key key, bool block_only) {
  report::site s;
  if (key == 0) {
    s.file = "(unknown: written before reporting started)";
    s.block_only = true;
    return s;
  }
  resolve_deferred_sites();  // INVARIANT deferred-site-resolved
  source_location where = unpack_site(key);
  s.file = where.file_name();
  s.line = where.line();
  s.function = where.function_name();
  s.block_only = block_only;
  return s;
}

void push_event(thread_recorder& r, const raw_event& e) {
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.events.size() < max_events_per_thread) r.events.push_back(e);
}

double seconds_per_tick(std::uint64_t now_ticks, std::uint64_t now_ns) {
  recording_state& s = state();
  std::uint64_t ticks = now_ticks - s.epoch_ticks.load(std::memory_order_relaxed);
  std::uint64_t ns = now_ns - s.epoch_ns.load(std::memory_order_relaxed);
  if (ticks == 0) return 1e-9;
  return static_cast<double>(ns) * 1e-9 / static_cast<double>(ticks);
}

void restart_epoch() {
  recording_state& s = state();
  s.epoch_ns.store(steady_ns(), std::memory_order_relaxed);
  s.epoch_ticks.store(profile_ticks(), std::memory_order_relaxed);
}

// Every thread's grouped tasks (thread_counters::grouped_tasks), counted
// whether or not reporting is on: the report shows them since its baseline.
std::uint64_t grouped_tasks_now() noexcept {
  std::uint64_t sum = 0;
  for_each_registered([&](const transaction& t) {
    sum += t.counters.grouped_tasks.load(std::memory_order_relaxed);
  });
  return sum;
}

void restart_hardware_baseline() {
  std::vector<hardware_site_sample> now = sample_hardware_sites();
  recording_state& s = state();
  auto_mode_statistics automatic;
  add_auto_mode_totals(automatic);
  const std::uint64_t grouped = grouped_tasks_now();
  std::lock_guard<std::mutex> lock(s.hardware_mutex);
  s.hardware_baseline = std::move(now);
  s.auto_mode_baseline = automatic;
  s.grouped_tasks_baseline = grouped;
}

std::uint64_t grouped_tasks_since_baseline() {
  const std::uint64_t now = grouped_tasks_now();
  recording_state& s = state();
  std::lock_guard<std::mutex> lock(s.hardware_mutex);
  return now >= s.grouped_tasks_baseline ? now - s.grouped_tasks_baseline : 0;
}

// Auto mode's controller since the baseline (mode_controller.hpp); its
// switches since the start of reporting.
report::auto_mode_summary auto_mode_since_baseline() {
  auto_mode_statistics now;
  add_auto_mode_totals(now);
  recording_state& s = state();
  report::auto_mode_summary out;
  {
    std::lock_guard<std::mutex> lock(s.hardware_mutex);
    const auto_mode_statistics& base = s.auto_mode_baseline;
    auto minus = [](std::uint64_t a, std::uint64_t b) { return a >= b ? a - b : 0; };
    out.speculative_s = std::max(0.0, now.speculative_s - base.speculative_s);
    out.serial_s = std::max(0.0, now.serial_s - base.serial_s);
    out.speculative_blocks = minus(now.speculative_blocks, base.speculative_blocks);
    out.serial_blocks = minus(now.serial_blocks, base.serial_blocks);
    out.samples = minus(now.samples, base.samples);
  }
  out.switches = mode_switches_since(s.epoch_ns.load(std::memory_order_relaxed));
  return out;
}

std::vector<report::hardware_block> hardware_blocks_since_baseline() {
  const std::vector<hardware_site_sample> now = sample_hardware_sites();
  recording_state& s = state();
  std::lock_guard<std::mutex> lock(s.hardware_mutex);
  return hardware_blocks_since(now, s.hardware_baseline);
}

report::conflict_kind kind_of(abort_cause cause) {
  switch (cause) {
    case abort_cause::commit_locked:
      return report::conflict_kind::write_write;
    case abort_cause::inevitable:
      return report::conflict_kind::inevitable;
    default:
      return report::conflict_kind::write_read;
  }
}

bool is_conflict(abort_cause cause) {
  switch (cause) {
    case abort_cause::read_locked:
    case abort_cause::read_invalidated:
    case abort_cause::commit_locked:
    case abort_cause::commit_invalidated:
    case abort_cause::inevitable:
      return true;
    default:
      return false;
  }
}

}  // namespace

#if !defined(__cpp_lib_source_location)
namespace {
std::mutex g_intern_mutex;
std::vector<source_location> g_interned;
}  // namespace

site_key pack_site(const source_location& site) noexcept {
  std::lock_guard<std::mutex> lock(g_intern_mutex);
  for (std::size_t i = 0; i < g_interned.size(); ++i) {
    const source_location& s = g_interned[i];
    if (s.line() == site.line() && s.file_name() == site.file_name() &&
        s.function_name() == site.function_name()) {
      return i + 1;
    }
  }
  try {
    g_interned.push_back(site);
  } catch (...) {
    return 0;
  }
  return g_interned.size();
}

source_location unpack_site(site_key key) noexcept {
  std::lock_guard<std::mutex> lock(g_intern_mutex);
  if (key == 0 || key > g_interned.size()) return source_location{};
  return g_interned[key - 1];
}
#endif

namespace {
// The running attempt's time so far, its waits left out (INVARIANT times-disjoint).
std::uint64_t attempt_ticks(const transaction& tx, const thread_recorder& r,
                            std::uint64_t now) noexcept {
  const std::uint64_t elapsed = now - tx.attempt_start_tick;
  return elapsed - std::min(elapsed, r.attempt_waiting.load(std::memory_order_relaxed));
}
}  // namespace

void record_attempt_start(transaction& tx) noexcept {
  thread_recorder& r = recorder_of(tx);
  std::uint64_t now = profile_ticks();
  std::uint64_t epoch = state().epoch_ticks.load(std::memory_order_relaxed);
  if (tx.last_end_tick >= epoch && tx.last_end_tick != 0 && now > tx.last_end_tick) {
    add(r.outside, now - tx.last_end_tick);
  }
  r.attempt_waiting.store(0, std::memory_order_relaxed);
  tx.attempt_start_tick = now;
}

void record_commit(transaction& tx, std::uint64_t commit_timestamp) noexcept {
  thread_recorder& r = recorder_of(tx);
  std::uint64_t now = profile_ticks();
  add(r.committed, attempt_ticks(tx, r, now));
  add(r.commits, 1);
  if (tx.holds_token || tx.irrevocable_since_tick != 0) {
    std::lock_guard<std::mutex> lock(state().mutex);
    inevitable_totals& t = state().inevitables[{tx.inevitable_key, tx.inevitable_starved}];
    ++t.count;
    t.inevitable_ticks += now - tx.irrevocable_since_tick;
    t.block_only = tx.inevitable_block_only;
  }
  if (g_tracing.load(std::memory_order_relaxed)) {
    push_event(r, {trace_event::type::commit, report::conflict_kind::write_read, false,
                   tx.attempt_start_tick, now, commit_timestamp, pack_site(tx.block_site)});
    if (tx.irrevocable_since_tick != 0) {
      push_event(r,
                 {trace_event::type::inevitable, report::conflict_kind::write_read,
                  tx.inevitable_block_only, tx.irrevocable_since_tick, now, 0, tx.inevitable_key});
    }
  }
  tx.irrevocable_since_tick = 0;
  tx.last_end_tick = now;
}

void record_conflict(transaction& tx, abort_cause cause, const conflict_point& where) noexcept {
  if (!is_conflict(cause)) return;
  thread_recorder& r = recorder_of(tx);
  std::uint64_t now = profile_ticks();
  std::uint64_t lost = attempt_ticks(tx, r, now);
  auto [aborted, block_only] = aborted_site(tx, where.site);
  report::conflict_kind kind = kind_of(cause);
  site_key other = 0;
  bool other_starved = false;
  std::uint64_t causing_commit = 0;
  if (kind == report::conflict_kind::inevitable) {
    other = g_inevitable_site.load(std::memory_order_relaxed);
    other_starved = g_inevitable_starved.load(std::memory_order_relaxed);
    if (other == 0) {
      // The holder gave the token back before this load: it was the last one.
      other = g_last_inevitable_site.load(std::memory_order_relaxed);
      other_starved = g_last_inevitable_starved.load(std::memory_order_relaxed);
    }
  } else if (where.lock != nullptr) {
    other = site_of(*where.lock).load(std::memory_order_relaxed);
    std::uint64_t v = where.lock->load(std::memory_order_relaxed);
    if (!orec_is_locked(v)) causing_commit = orec_version(v);
  }
  tx.conflict_recorded = true;
  tx.conflict_kind = kind;
  tx.conflict_commit_ts = causing_commit;
  tx.conflict_site = aborted;
  tx.conflict_block_only = block_only;
  tx.last_conflict_site = aborted;
  tx.last_conflict_block_only = block_only;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    group_totals& g = r.conflicts[{kind, aborted, block_only, other}];
    ++g.count;
    g.ticks += lost;
  }
  if (kind == report::conflict_kind::inevitable && other != 0) {
    std::lock_guard<std::mutex> lock(state().mutex);
    state().inevitables[{other, other_starved}].blocked_ticks += lost;
  }
}

void record_rollback(transaction& tx) noexcept {
  thread_recorder& r = recorder_of(tx);
  std::uint64_t now = profile_ticks();
  if (tx.rollback_for_retry) {
    // retry(): not an abort (stats() does not count it as one either). The
    // attempt that found the state it wants missing is part of waiting for it.
    tx.rollback_for_retry = false;
    add(r.waiting, attempt_ticks(tx, r, now));
    if (g_tracing.load(std::memory_order_relaxed)) {
      push_event(r, {trace_event::type::wait, report::conflict_kind::write_read, false,
                     tx.attempt_start_tick, now, 0, pack_site(tx.block_site)});
    }
    tx.conflict_recorded = false;
    tx.irrevocable_since_tick = 0;
    tx.last_end_tick = now;
    return;
  }
  add(r.aborted, attempt_ticks(tx, r, now));
  add(r.aborts, 1);
  if (tx.irrevocable_since_tick != 0) {
    std::lock_guard<std::mutex> lock(state().mutex);
    inevitable_totals& t = state().inevitables[{tx.inevitable_key, tx.inevitable_starved}];
    t.inevitable_ticks += now - tx.irrevocable_since_tick;
    t.block_only = tx.inevitable_block_only;
  }
  if (g_tracing.load(std::memory_order_relaxed)) {
    push_event(r, {trace_event::type::abort, tx.conflict_kind, tx.conflict_block_only,
                   tx.attempt_start_tick, now, tx.conflict_recorded ? tx.conflict_commit_ts : 0,
                   tx.conflict_recorded ? tx.conflict_site : pack_site(tx.block_site)});
  }
  tx.conflict_recorded = false;
  tx.irrevocable_since_tick = 0;
  tx.last_end_tick = now;
}

void record_hardware_fallback(transaction& tx) noexcept {
  thread_recorder& r = recorder_of(tx);
  std::uint64_t now = profile_ticks();
  add(r.aborted, attempt_ticks(tx, r, now));
  tx.last_end_tick = now;
}

void record_irrevocable(transaction& tx, bool starved) noexcept {
  tx.irrevocable_since_tick = profile_ticks();
  tx.inevitable_starved = starved;
  if (starved) {
    // Not asked for: name the hot spot that starved it (its last conflict).
    tx.inevitable_key =
        tx.last_conflict_site != 0 ? tx.last_conflict_site : pack_site(tx.block_site);
    tx.inevitable_block_only = tx.last_conflict_site == 0 || tx.last_conflict_block_only;
  } else {
    tx.inevitable_key = pack_site(tx.inevitable_site);
    tx.inevitable_block_only = false;
  }
  g_inevitable_starved.store(starved, std::memory_order_relaxed);
  g_inevitable_site.store(tx.inevitable_key, std::memory_order_relaxed);
  g_last_inevitable_starved.store(starved, std::memory_order_relaxed);
  g_last_inevitable_site.store(tx.inevitable_key, std::memory_order_relaxed);
  g_inevitable_generation.fetch_add(1, std::memory_order_relaxed);
}

void announce_inevitable_site(const transaction& tx) noexcept {
  const site_key key = pack_site(tx.inevitable_site);
  g_inevitable_starved.store(false, std::memory_order_relaxed);
  g_inevitable_site.store(key, std::memory_order_relaxed);
  g_last_inevitable_starved.store(false, std::memory_order_relaxed);
  g_last_inevitable_site.store(key, std::memory_order_relaxed);
}

void record_inevitable_site(transaction& tx) noexcept {
  // A starved run names the hot spot that starved it, whatever it asks later.
  if (tx.inevitable_starved) return;
  const site_key key = pack_site(tx.inevitable_site);
  if (key == tx.inevitable_key) return;
  tx.inevitable_key = key;
  tx.inevitable_block_only = false;
  g_inevitable_site.store(key, std::memory_order_relaxed);
  g_last_inevitable_site.store(key, std::memory_order_relaxed);
}

std::uint64_t record_wait_begin() noexcept {
  if (!reporting_on()) return 0;
  // By the end of a wait for the token the holder has released it (and
  // cleared g_inevitable_site): remember now whom this thread waits for.
  t_wait_holder = g_inevitable_site.load(std::memory_order_relaxed);
  t_wait_holder_starved = g_inevitable_starved.load(std::memory_order_relaxed);
  t_wait_generation = g_inevitable_generation.load(std::memory_order_relaxed);
  return profile_ticks();
}

void record_wait_end(transaction& tx, std::uint64_t begin, bool for_inevitable) noexcept {
  if (begin == 0) return;
  std::uint64_t now = profile_ticks();
  thread_recorder& r = recorder_of(tx);
  const std::uint64_t waited = now - begin;
  add(r.waiting, waited);
  // INVARIANT times-disjoint: inside an attempt, the wait is not the
  // attempt's time; between transactions, it is not time outside them.
  if (tx.depth > 0) {
    add(r.attempt_waiting, waited);
  } else if (tx.last_end_tick != 0 &&
             tx.last_end_tick >= state().epoch_ticks.load(std::memory_order_relaxed)) {
    tx.last_end_tick += waited;
  }
  if (for_inevitable) {
    site_key holder = t_wait_holder;
    bool starved = t_wait_holder_starved;
    if (holder == 0 &&
        g_inevitable_generation.load(std::memory_order_relaxed) != t_wait_generation) {
      // The token was taken just before the wait began, or while it went on.
      holder = g_last_inevitable_site.load(std::memory_order_relaxed);
      starved = g_last_inevitable_starved.load(std::memory_order_relaxed);
    }
    if (holder != 0) {
      std::lock_guard<std::mutex> lock(state().mutex);
      state().inevitables[{holder, starved}].blocked_ticks += waited;
    }
  }
  if (g_tracing.load(std::memory_order_relaxed) && waited > 0) {
    push_event(
        r, {trace_event::type::wait, report::conflict_kind::write_read, false, begin, now, 0, 0});
  }
}

std::vector<trace_event> collect_trace() {
  recording_state& s = state();
  std::uint64_t now_ticks = profile_ticks();
  std::uint64_t now_ns = steady_ns();
  double spt = seconds_per_tick(now_ticks, now_ns);
  std::uint64_t epoch = s.epoch_ticks.load(std::memory_order_relaxed);
  auto to_ns = [&](std::uint64_t t) {
    return t <= epoch ? std::uint64_t{0}
                      : static_cast<std::uint64_t>(static_cast<double>(t - epoch) * spt * 1e9);
  };
  std::vector<trace_event> out;
  std::lock_guard<std::mutex> lock(s.mutex);
  for (auto& r : s.recorders) {
    std::lock_guard<std::mutex> events_lock(r->mutex);
    for (const raw_event& e : r->events) {
      trace_event t;
      t.kind = e.kind;
      t.thread = r->index;
      t.begin_ns = to_ns(e.begin);
      t.end_ns = to_ns(e.end);
      t.commit_ts = e.commit_ts;
      t.conflict = e.conflict;
      if (e.site != 0 || e.kind != trace_event::type::wait) t.where = to_site(e.site, e.block_only);
      out.push_back(std::move(t));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const trace_event& a, const trace_event& b) { return a.begin_ns < b.begin_ns; });
  return out;
}

void initialize_reporting_from_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* value = std::getenv("OPTIMIST_REPORT");
    if (value == nullptr) return;
    state();  // constructed before the exit handler is registered, so destroyed after it
    std::string target = value;
    auto ends_with = [&](const char* suffix) {
      std::size_t n = std::strlen(suffix);
      return target.size() >= n && target.compare(target.size() - n, n, suffix) == 0;
    };
    if (ends_with(".trace.json")) g_tracing.store(true, std::memory_order_relaxed);
    report::enable(true);
    // The process that read OPTIMIST_REPORT writes the report. A child it forks
    // inherits this handler and the recorded counts: writing at its exit would
    // put what the parent had before the fork over the parent's report (and
    // a lock another thread held at the fork would hang its exit).
    static const pid_t reporting_process = getpid();
    std::atexit([] {
      if (getpid() != reporting_process) return;
      const char* value = std::getenv("OPTIMIST_REPORT");
      write_report_file(value != nullptr ? value : "", std::cerr);
    });
  });
}

}  // namespace optimist::detail

namespace optimist::report {

using namespace optimist::detail;

void enable(bool on) {
  // Switched on: snapshot() covers what is recorded from now on (report.hpp),
  // not also what an earlier period recorded before enable(false).
  if (on && !g_reporting.load(std::memory_order_relaxed)) reset();
  g_reporting.store(on, std::memory_order_relaxed);
}

bool enabled() noexcept {
  return reporting_on();
}

void enable_trace(bool on) {
  g_tracing.store(on, std::memory_order_relaxed);
  if (on) enable(true);
}

void reset() {
  recording_state& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  for (auto& r : s.recorders) {
    std::lock_guard<std::mutex> events_lock(r->mutex);
    r->conflicts.clear();
    r->events.clear();
    for (auto* c :
         {&r->committed, &r->aborted, &r->waiting, &r->outside, &r->commits, &r->aborts}) {
      c->store(0, std::memory_order_relaxed);
    }
  }
  s.inevitables.clear();
  restart_epoch();
  restart_hardware_baseline();
}

profile snapshot() {
  recording_state& s = state();
  std::uint64_t now_ticks = profile_ticks();
  std::uint64_t now_ns = steady_ns();
  double spt = seconds_per_tick(now_ticks, now_ns);
  profile p;
  // A reset() that ran after now_ns was read (or no enable() at all): no wrap.
  const std::uint64_t epoch_ns = s.epoch_ns.load(std::memory_order_relaxed);
  p.totals.wall_s =
      epoch_ns != 0 && now_ns > epoch_ns ? static_cast<double>(now_ns - epoch_ns) * 1e-9 : 0.0;
  std::map<group_key, group_totals> groups;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    for (auto& r : s.recorders) {
      auto seconds = [&](const std::atomic<std::uint64_t>& c) {
        return static_cast<double>(c.load(std::memory_order_relaxed)) * spt;
      };
      thread_times t;
      t.thread = r->index;
      t.committed_s = seconds(r->committed);
      t.aborted_s = seconds(r->aborted);
      t.waiting_s = seconds(r->waiting);
      t.outside_s = seconds(r->outside);
      p.totals.commits += r->commits.load(std::memory_order_relaxed);
      p.totals.aborts += r->aborts.load(std::memory_order_relaxed);
      p.totals.committed_s += t.committed_s;
      p.totals.aborted_s += t.aborted_s;
      p.totals.waiting_s += t.waiting_s;
      p.threads.push_back(t);
      std::lock_guard<std::mutex> conflicts_lock(r->mutex);
      for (const auto& [key, totals] : r->conflicts) {
        group_totals& g = groups[key];
        g.count += totals.count;
        g.ticks += totals.ticks;
      }
    }
    // Keys are source_location objects: one per column with
    // std::source_location, and a line of a header gets one per translation
    // unit. Groups are what the report shows, so regroup by file, line and
    // function (INVARIANT one-group-per-site: no two groups of a snapshot name
    // the same kind and sites).
    std::map<std::pair<site_identity, bool>, std::pair<inevitable, inevitable_totals>> by_site;
    for (const auto& [key, totals] : s.inevitables) {
      const report::site where = to_site(key.first, totals.block_only);
      auto& [group, sum] = by_site[{identity_of(where), key.second}];
      group.where = where;
      group.starved = key.second;
      sum.count += totals.count;
      sum.inevitable_ticks += totals.inevitable_ticks;
      sum.blocked_ticks += totals.blocked_ticks;
    }
    for (auto& [key, entry] : by_site) {
      auto& [group, sum] = entry;
      group.count = sum.count;
      group.inevitable_s = static_cast<double>(sum.inevitable_ticks) * spt;
      group.blocked_others_s = static_cast<double>(sum.blocked_ticks) * spt;
      p.inevitables.push_back(std::move(group));
    }
  }
  std::map<std::tuple<report::conflict_kind, site_identity, site_identity>,
           std::pair<conflict, group_totals>>
      by_site;
  for (const auto& [key, totals] : groups) {
    const report::site aborted = to_site(key.aborted, key.aborted_block_only);
    const report::site other = to_site(key.other, false);
    auto& [group, sum] = by_site[{key.kind, identity_of(aborted), identity_of(other)}];
    group.kind = key.kind;
    group.aborted_site = aborted;
    group.other_site = other;
    sum.count += totals.count;
    sum.ticks += totals.ticks;
  }
  for (auto& [key, entry] : by_site) {
    auto& [group, sum] = entry;
    group.count = sum.count;
    group.time_lost_s = static_cast<double>(sum.ticks) * spt;
    p.conflicts.push_back(std::move(group));
  }
  std::stable_sort(
      p.conflicts.begin(), p.conflicts.end(),
      [](const conflict& a, const conflict& b) { return a.time_lost_s > b.time_lost_s; });
  std::stable_sort(p.inevitables.begin(), p.inevitables.end(),
                   [](const inevitable& a, const inevitable& b) {
                     return a.blocked_others_s > b.blocked_others_s;
                   });
  p.hardware = hardware_blocks_since_baseline();
  p.auto_mode = auto_mode_since_baseline();
  p.totals.grouped_tasks = grouped_tasks_since_baseline();
  return p;
}

}  // namespace optimist::report
