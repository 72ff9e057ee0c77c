// The recording side of optimist::report: what the engine calls while
// reporting is on, and where it keeps what it learns.
//
// Each thread records into its own thread_recorder (times as owner-written
// atomics, conflict groups and trace events under a mutex that only snapshot
// and reset contend for). The engine checks `reporting_on()` once per
// transaction start and caches it in transaction::recording, so with
// reporting off no hook below is ever called.
#pragma once

#include <atomic>
#include <cstdint>

#include "optimist/report.hpp"
#include "optimist/source_location.hpp"
#include "optimist/stats.hpp"
#include "profile/site_key.hpp"
#include "stm/orec_table.hpp"

namespace optimist::detail {

class transaction;
class thread_recorder;

inline std::atomic<bool> g_reporting{false};
inline std::atomic<bool> g_tracing{false};
// The site where the current inevitable transaction became inevitable (0: none).
inline std::atomic<site_key> g_inevitable_site{0};
inline std::atomic<bool> g_inevitable_starved{false};  // ... and whether it was starved

inline bool reporting_on() noexcept {
  return g_reporting.load(std::memory_order_relaxed);
}

// Deferred sites. INVARIANT (deferred-site-resolved): a library that names
// accesses by site records whose fields it fills in only when a report needs
// them (liboptimist_itm.so keeps an access's return address and symbolizes it
// late: runtime/itm/itm_sites.cpp) registers its hooks here: owns(site), true
// for such a record, answered without reading it (no lock); resolve_all(),
// which fills every record it has made so far. Whoever reads a site's fields
// (reports, messages) calls resolve_deferred_sites() first; a conflict being
// recorded takes a deferred site as it is (is_deferred_site), so that no
// conflict waits for symbolizing (the first one would load the program's
// debug information). Registered once, never unset.
struct deferred_site_hooks {
  bool (*owns)(const source_location& site) noexcept;
  void (*resolve_all)() noexcept;
};
inline std::atomic<const deferred_site_hooks*> g_deferred_sites{nullptr};
inline void resolve_deferred_sites() noexcept {
  if (const deferred_site_hooks* hooks = g_deferred_sites.load(std::memory_order_acquire))
    hooks->resolve_all();
}
inline bool is_deferred_site(const source_location& site) noexcept {
  const deferred_site_hooks* hooks = g_deferred_sites.load(std::memory_order_acquire);
  return hooks != nullptr && hooks->owns(site);
}

// Where a conflict was detected: the access of the aborting transaction and,
// if known, the orec through which the other transaction interfered.
struct conflict_point {
  source_location site;
  const orec* lock = nullptr;
};

// Reads OPTIMIST_REPORT once (at the first transaction of the process).
void initialize_reporting_from_environment();

// --- engine hooks; call only when tx.recording ---------------------------
void record_attempt_start(transaction& tx) noexcept;
void record_commit(transaction& tx, std::uint64_t commit_timestamp) noexcept;
void record_conflict(transaction& tx, abort_cause cause, const conflict_point& where) noexcept;
void record_rollback(transaction& tx) noexcept;
void record_irrevocable(transaction& tx, bool starved) noexcept;
// An irrevocable run asked to become inevitable (again): name tx.inevitable_site.
void record_inevitable_site(transaction& tx) noexcept;
// become_inevitable() holds the token and is about to reserve what it read and
// wrote: a writer that meets a reservation names tx.inevitable_site.
void announce_inevitable_site(const transaction& tx) noexcept;
// A block whose hardware attempts (htm/hardware_path_rtm.cpp) all aborted and
// that now runs in software: their time is aborted time, but no abort is
// counted (the report's aborts are software conflicts, each with its sites;
// hardware aborts are counted by cause in the hardware section). The software
// attempt that follows starts its own time.
void record_hardware_fallback(transaction& tx) noexcept;

// Waiting (token, ordered-mode turn, backoff). `begin` is 0 when reporting is
// off; pass it back unchanged. A wait counts as waiting time only: not as the
// running attempt's time, nor as time outside transactions. A wait for the
// token (for_inevitable) is charged to the inevitable transaction that held it
// when the wait began (blocked_others_s).
std::uint64_t record_wait_begin() noexcept;
void record_wait_end(transaction& tx, std::uint64_t begin, bool for_inevitable) noexcept;

}  // namespace optimist::detail
