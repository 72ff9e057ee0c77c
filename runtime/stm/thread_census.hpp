// The thread census: how many threads hold a transaction descriptor, and how
// many times one was handed out — one word, so that a commit can tell with one
// load that no other thread could have committed since its transaction began.
//
// Why: commit-time validation re-reads every read orec. TL2 skips it when the
// clock shows no commit since the snapshot; under the lazy clock
// (global_clock.hpp) commits do not move the clock, so the clock cannot show
// that. What can: every thread that commits — transactions, accesses outside
// one, hardware and C API transactions, the inevitable one — registers a
// descriptor first (thread_registry.cpp).
//
// INVARIANT (sole-thread): if the census read by start() (after publishing the
// start time, before the first read) equals the census read by the commit
// after its locks and its stamp, and it counts one descriptor in use, then no
// commit of another thread locked an orec between the two loads. Proof: the
// census changes only by sequentially consistent RMWs; a thread registers
// (generation + 1) before its first lock CAS, and deregisters after its last
// unlock. If another thread T committed C with C's lock CAS before the commit
// load in S, either T registered after the start load — then the generation
// differs at the commit load — or T was registered at the start load — then
// the count there was >= 2, unless T had already deregistered, and then C
// happened before the start load (the deregistration RMW is a release that
// the start load reads from or after) and before every read of the attempt.
// A commit whose lock CAS follows the commit load is serialised after this
// commit, as with any validation. So the read set is valid and validation can
// be skipped. (The generation wraps after 2^40 registrations; a transaction
// that spans exactly that many is not a practical concern.)
#pragma once

#include <atomic>
#include <cstdint>

namespace optimist::detail {

inline constexpr unsigned census_count_bits = 24;
inline constexpr std::uint64_t census_count_mask = (std::uint64_t{1} << census_count_bits) - 1;
inline constexpr std::uint64_t census_registration = (std::uint64_t{1} << census_count_bits) + 1;

// Low 24 bits: descriptors in use. High 40 bits: registrations so far.
inline std::atomic<std::uint64_t> g_thread_census{0};

inline std::uint64_t census_now() noexcept {
  return g_thread_census.load(std::memory_order_seq_cst);
}

// True if `at_start` and `at_commit` (census_now() at the two points of
// INVARIANT sole-thread) show this thread alone all along.
inline bool census_alone_since(std::uint64_t at_start, std::uint64_t at_commit) noexcept {
  return at_start == at_commit && (at_commit & census_count_mask) == 1;
}

}  // namespace optimist::detail
