// tests/support/cpu_time.hpp — CPU time, for tests that check that a wait
// sleeps rather than spins.
//
//   const double c0 = optimist::test::thread_cpu_seconds();
//   ... a wait of about `wall` seconds ...
//   EXPECT_LT(optimist::test::thread_cpu_seconds() - c0, 0.25 * wall);
//
// A resource check, not a speed claim: a loaded machine can only lower the
// CPU time a spinning wait gets, never raise a sleeping one's.
//
// thread_cpu_seconds()   CPU time of the calling thread
// process_cpu_seconds()  CPU time of the whole process (every worker of a run)
#pragma once

#include <time.h>

namespace optimist::test {

inline double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

inline double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace optimist::test
