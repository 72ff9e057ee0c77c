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

#if defined(__cpp_lib_source_location)
// A record of its own (c_site shares one between equal arguments) whose fields
// fill_site_record() may set later: liboptimist_itm names an access by such a
// record before it knows the access's file and line (runtime/itm/itm_sites.cpp).
// Never freed (INVARIANT site-records-live-forever). Throws std::bad_alloc.
source_location make_site_record(const char* file, int line, const char* function);
// Sets the fields of a record made by make_site_record(). The caller orders
// this before every read of them (INVARIANT deferred-site-resolved,
// profile/recorder.hpp).
void fill_site_record(source_location record, const char* file, int line,
                      const char* function) noexcept;
#endif

}  // namespace optimist::detail
