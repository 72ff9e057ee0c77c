// optimist::stats(): per-thread counters summed over the registry, minus the
// totals at the last reset (threads' counters are never written by others, so
// a reset cannot race with a counting thread).
#include <algorithm>
#include <mutex>

#include "optimist/stats.hpp"
#include "profile/profile_clock.hpp"
#include "stm/mode_controller.hpp"
#include "stm/thread_registry.hpp"

namespace optimist {

namespace {
std::mutex g_baseline_mutex;
statistics g_baseline;

statistics sum_all() {
  statistics total;
  detail::for_each_registered([&](const detail::transaction& t) { t.counters.add_to(total); });
  detail::add_auto_mode_totals(total.automatic);  // auto mode's controller
  return total;
}
}  // namespace

void detail::thread_counters::add_to(statistics& s) const noexcept {
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  s.commits += get(commits) + get(serial_commits);  // serial commits bump only theirs
  s.read_only_commits += get(read_only_commits);
  s.serial_commits += get(serial_commits);
  s.serial_give_ways += get(serial_give_ways);
  s.aborts += get(aborts);
  s.restarts += get(restarts);
  s.irrevocable += get(irrevocable);
  s.starved += get(starved);
  s.retries += get(retries);
  s.grouped_tasks += get(grouped_tasks);
  for (std::size_t i = 0; i < abort_cause_count; ++i)
    s.aborts_by_cause[i] += get(aborts_by_cause[i]);
  s.hardware.attempts += get(hardware_attempts);
  s.hardware.commits += get(hardware_commits);
  s.hardware.fallbacks += get(hardware_fallbacks);
  s.hardware.skipped += get(hardware_skipped);
  for (std::size_t i = 0; i < hardware_abort_cause_count; ++i)
    s.hardware.aborts_by_cause[i] += get(hardware_aborts_by_cause[i]);
}

statistics stats() {
  statistics now = sum_all();
  std::lock_guard<std::mutex> lock(g_baseline_mutex);
  auto minus = [](std::uint64_t a, std::uint64_t b) { return a >= b ? a - b : 0; };
  now.commits = minus(now.commits, g_baseline.commits);
  now.read_only_commits = minus(now.read_only_commits, g_baseline.read_only_commits);
  now.serial_commits = minus(now.serial_commits, g_baseline.serial_commits);
  now.serial_give_ways = minus(now.serial_give_ways, g_baseline.serial_give_ways);
  now.aborts = minus(now.aborts, g_baseline.aborts);
  now.restarts = minus(now.restarts, g_baseline.restarts);
  now.irrevocable = minus(now.irrevocable, g_baseline.irrevocable);
  now.starved = minus(now.starved, g_baseline.starved);
  now.retries = minus(now.retries, g_baseline.retries);
  now.grouped_tasks = minus(now.grouped_tasks, g_baseline.grouped_tasks);
  for (std::size_t i = 0; i < abort_cause_count; ++i) {
    now.aborts_by_cause[i] = minus(now.aborts_by_cause[i], g_baseline.aborts_by_cause[i]);
  }
  hardware_statistics& h = now.hardware;
  const hardware_statistics& base = g_baseline.hardware;
  h.attempts = minus(h.attempts, base.attempts);
  h.commits = minus(h.commits, base.commits);
  h.fallbacks = minus(h.fallbacks, base.fallbacks);
  h.skipped = minus(h.skipped, base.skipped);
  for (std::size_t i = 0; i < hardware_abort_cause_count; ++i) {
    h.aborts_by_cause[i] = minus(h.aborts_by_cause[i], base.aborts_by_cause[i]);
  }
  auto_mode_statistics& a = now.automatic;
  const auto_mode_statistics& abase = g_baseline.automatic;
  a.speculative_s = std::max(0.0, a.speculative_s - abase.speculative_s);
  a.serial_s = std::max(0.0, a.serial_s - abase.serial_s);
  a.speculative_blocks = minus(a.speculative_blocks, abase.speculative_blocks);
  a.serial_blocks = minus(a.serial_blocks, abase.serial_blocks);
  a.samples = minus(a.samples, abase.samples);
  a.to_serial = minus(a.to_serial, abase.to_serial);
  a.to_speculative = minus(a.to_speculative, abase.to_speculative);
  for (std::size_t i = 0; i < mode_switch_reason_count; ++i) {
    a.switches_by_reason[i] = minus(a.switches_by_reason[i], abase.switches_by_reason[i]);
  }
  return now;
}

void reset_stats() {
  statistics now = sum_all();
  std::lock_guard<std::mutex> lock(g_baseline_mutex);
  g_baseline = now;
  detail::g_mode_switches_origin_ns.store(detail::steady_ns(), std::memory_order_relaxed);
}

std::string_view to_string(abort_cause cause) noexcept {
  switch (cause) {
    case abort_cause::read_locked:
      return "read_locked";
    case abort_cause::read_invalidated:
      return "read_invalidated";
    case abort_cause::commit_locked:
      return "commit_locked";
    case abort_cause::commit_invalidated:
      return "commit_invalidated";
    case abort_cause::inevitable:
      return "inevitable";
    case abort_cause::user_exception:
      return "user_exception";
    case abort_cause::explicit_restart:
      return "explicit_restart";
    case abort_cause::count_:
      break;
  }
  return "unknown";
}

std::string_view to_string(hardware_abort_cause cause) noexcept {
  switch (cause) {
    case hardware_abort_cause::conflict:
      return "conflict";
    case hardware_abort_cause::capacity:
      return "capacity";
    case hardware_abort_cause::explicit_abort:
      return "explicit";
    case hardware_abort_cause::other:
      return "other";
    case hardware_abort_cause::count_:
      break;
  }
  return "unknown";
}

}  // namespace optimist
