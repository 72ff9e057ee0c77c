// The C caller's place in its source — the __FILE__, __LINE__ and __func__
// that the macros of <optimist/stm.h> pass — as the optimist::source_location
// that the engine records and the reports quote.
#pragma once

#include "optimist/source_location.hpp"

namespace optimist::detail {

// A location naming file:line in function. The strings must outlive the
// program's reports (string literals do). Equal arguments give equal
// locations; a null file gives the empty location (reported as unknown).
// Cost: a lookup in a small per-thread cache; a miss takes a lock once per
// site and thread. Never throws: out of memory gives the empty location.
source_location c_site(const char* file, int line, const char* function) noexcept;

}  // namespace optimist::detail
