// tests/support/serial_mode.hpp — for the suites that also run under
// OPTIMIST_MODE=serial (runtime/stm/serial_mode.cpp).
//
// Serial mode keeps the semantics of atomic blocks (atomicity, isolation,
// rollback on exception, nesting, retry, or_else) but not the software
// engine's mechanics. A test that checks those mechanics skips itself in
// serial mode, saying which mechanism it needs:
//   - conflicts staged between threads (a block waits for another thread's
//     transactional access: under one lock that thread waits for the block);
//   - buffered writes (memory untouched before commit), write-log limits,
//     starvation and the irrevocable fallback.
#pragma once

#include <gtest/gtest.h>

#include "optimist/mode.hpp"

namespace optimist::test {

inline bool serial_mode_on() {
  return optimist::execution_mode_now() == optimist::execution_mode::serial;
}

}  // namespace optimist::test

#define OPTIMIST_SKIP_IN_SERIAL_MODE(why)                                        \
  do {                                                                           \
    if (::optimist::test::serial_mode_on()) GTEST_SKIP() << "serial mode: " why; \
  } while (false)
