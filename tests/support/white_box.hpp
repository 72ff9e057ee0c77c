// tests/support/white_box.hpp — looks inside the runtime, for the tests of
// auto mode and give-way (tests/stm/auto_mode_test.cpp, give_way_test.cpp),
// which check which mode an attempt ran in and how many threads the gate's
// census counts, and for tests that wait until a given thread's retry waits.
#pragma once

#include <atomic>
#include <cstdint>

#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

namespace optimist::test {

// Threads holding a descriptor (the census that auto mode's "alone" reads).
inline long threads_with_descriptors() {
  return static_cast<long>(optimist::detail::census_now() & optimist::detail::census_count_mask);
}

// This thread's count of retries, as stats() sums them: a software attempt's retry(), counted
// just before it waits (a serial attempt's retry runs the block again speculatively, uncounted;
// a retrying task's is counted as it is set aside). Another thread may read it: it never moves
// (descriptors are never freed), and its thread is the only one that counts.
inline const std::atomic<std::uint64_t>& this_thread_retries() {
  return optimist::detail::this_thread_transaction().counters.retries;
}

// The mode the running (outermost) attempt runs in; hardware outside one.
inline optimist::detail::tx_mode running_mode() {
  const optimist::detail::transaction* tx = optimist::detail::tls_current;
  return tx != nullptr ? tx->mode : optimist::detail::tx_mode::hardware;
}

}  // namespace optimist::test
