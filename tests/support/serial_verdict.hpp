// tests/support/serial_verdict.hpp — auto mode's controller held at "serial".
//
//   optimist::test::serial_verdict forced;   // until destroyed
//
// Resets the controller, makes its epoch endless (no epoch ends, so nothing
// is judged and the verdict never changes), starts that epoch from this
// thread, and sets the verdict to serial: every auto-mode outermost block
// beside other threads then runs serially. The destructor restores the epoch
// length and resets the controller.
//
//   class MySerialTest : public optimist::test::serial_verdict_test {};
//
// A test parameterised by its thread count that runs with the verdict held at
// serial and the statistics reset; skipped in stm and htm mode, which have no
// serial blocks.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

#include "optimist/mode.hpp"
#include "optimist/stats.hpp"

#include "stm/mode_controller.hpp"

namespace optimist::test {

class serial_verdict {
 public:
  serial_verdict() : saved_epoch_ns_(detail::g_controller_epoch_ns.load()) {
    detail::reset_mode_controller();
    detail::g_controller_epoch_ns.store(3'600'000'000'000ull);  // no epoch ends
    detail::tls_controller_countdown = 0;                       // this call ticks:
    (void)detail::controller_says_serial();                     // starts the (endless) epoch
    detail::g_auto_verdict.serial.store(true);
  }
  ~serial_verdict() {
    detail::g_controller_epoch_ns.store(saved_epoch_ns_);
    detail::reset_mode_controller();
  }
  serial_verdict(const serial_verdict&) = delete;
  serial_verdict& operator=(const serial_verdict&) = delete;

 private:
  std::uint64_t saved_epoch_ns_;
};

class serial_verdict_test : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const optimist::execution_mode mode = optimist::execution_mode_now();
    if (mode != optimist::execution_mode::automatic && mode != optimist::execution_mode::serial)
      GTEST_SKIP() << "serial blocks: auto and serial modes";
    forced_.emplace();
    optimist::reset_stats();
  }
  std::optional<serial_verdict> forced_;
};

}  // namespace optimist::test
