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
//     starvation and the irrevocable fallback;
//   - blocks of several threads inside at once (tasks or readers that wait
//     for each other inside their blocks).
// Such a test would otherwise wait for ever, or until its watchdog aborts.
// In auto mode (the default) such a test runs in stm mode instead, for its
// whole body: auto runs a lone thread's blocks serially, and these tests
// check the software engine's mechanics. Auto mode's own behaviour is tested
// in tests/stm/auto_mode_test.cpp and give_way_test.cpp.
#pragma once

#include <gtest/gtest.h>

#include "optimist/mode.hpp"

namespace optimist::test {

inline bool serial_mode_on() {
  return optimist::execution_mode_now() == optimist::execution_mode::serial;
}

// Switches auto mode to stm until the end of the scope; no-op otherwise.
class speculation_pin {
 public:
  speculation_pin() {
    if (previous_ == optimist::execution_mode::automatic) {
      optimist::set_execution_mode(optimist::execution_mode::stm);
    }
  }
  ~speculation_pin() {
    if (previous_ == optimist::execution_mode::automatic) optimist::set_execution_mode(previous_);
  }
  speculation_pin(const speculation_pin&) = delete;
  speculation_pin& operator=(const speculation_pin&) = delete;

 private:
  optimist::execution_mode previous_ = optimist::execution_mode_now();
};

}  // namespace optimist::test

// Skips the test in serial mode; auto mode stays auto. For a test that needs
// blocks of several threads to be inside at once (a block that waits for
// another thread's block or transactional access: in serial mode one block
// runs at a time, and a serial block that waits for another serial block
// waits as under one lock), where auto mode's behaviour is part of what it
// checks.
#define OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY(why) \
  if (::optimist::test::serial_mode_on()) GTEST_SKIP() << "serial mode: " why

// The same skip, and auto mode pinned to stm for the rest of the test body
// (it declares a variable there). At the top of a test body.
#define OPTIMIST_SKIP_IN_SERIAL_MODE(why) \
  OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY(why); \
  const ::optimist::test::speculation_pin optimist_speculation_pin_ {}
