// Contention management: what a transaction does when it meets another.
//
// - A read that finds its word locked waits a little (the owner is in the
//   middle of a short commit) before giving up the attempt.
// - A commit that finds a word locked waits a little if the owner might finish
//   soon, then aborts itself; commits never wait on each other without bound,
//   so they cannot deadlock.
// - After an abort, a transaction backs off for a random time that doubles
//   with each consecutive abort (so symmetric conflicts do not livelock).
// - After max_restarts consecutive aborts it runs irrevocably: it takes the
//   inevitability token (a FIFO ticket lock, so the transaction that waited
//   longest — the oldest — goes first) and cannot be aborted again. Others keep
//   running; see inevitability.cpp.
#pragma once

#include <cstdint>

namespace optimist::detail {

class transaction;

inline constexpr unsigned max_restarts = 12;

// Spins `iterations` pause instructions.
void cpu_relax(unsigned iterations) noexcept;

// Waits politely in a loop that checks a condition: spins at first, then
// yields the processor. Call with an increasing `round`.
void wait_round(unsigned round) noexcept;

// Randomised exponential backoff after the `aborts`-th consecutive abort.
void backoff(transaction& tx) noexcept;

// The inevitability token: one irrevocable transaction at a time.
void acquire_inevitability_token(transaction& tx) noexcept;
void release_inevitability_token(transaction& tx) noexcept;
// The irrevocable transaction, or nullptr (for reports and diagnostics).
const transaction* inevitable_owner() noexcept;

}  // namespace optimist::detail
