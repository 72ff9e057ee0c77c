// Which hardware path a thread uses: none, the real RTM instructions, or a
// simulation of a CPU whose every hardware transaction aborts.
//
// The process-wide execution mode (optimist/mode.hpp) resolves to a kind once
// per change: `htm` probes whether XBEGIN executes at all (on CPUs without
// TSX it raises SIGILL; then hardware attempts are *simulated* as aborts with
// status 0, so the fallback path and the policy still run exactly as they
// would where TSX is disabled in firmware); `auto` uses the hardware only
// where CPUID reports RTM. A thread may override the process mode for a while
// (the task runtime does, for run_options::mode).
#pragma once

#include <cstdint>

#include "optimist/mode.hpp"

namespace optimist::detail {

enum class hardware_kind : std::uint8_t { none, real, simulated };

// The kind this thread uses now. Resolves the process mode from
// OPTIMIST_MODE on first use (may throw std::invalid_argument naming a bad
// value).
hardware_kind thread_hardware_kind();

// The kind a mode resolves to on this CPU.
hardware_kind hardware_kind_for(execution_mode mode);

// True if the XBEGIN instruction executes on this CPU (probed once, with a
// SIGILL handler installed for the duration of the probe).
bool rtm_instruction_executes() noexcept;

// While alive, this thread runs in `mode` whatever the process mode is.
class scoped_execution_mode {
 public:
  explicit scoped_execution_mode(execution_mode mode);
  ~scoped_execution_mode();
  scoped_execution_mode(const scoped_execution_mode&) = delete;
  scoped_execution_mode& operator=(const scoped_execution_mode&) = delete;

 private:
  int previous_;
  int previous_serial_;  // serial mode override (runtime/stm/serial_mode.cpp)
};

}  // namespace optimist::detail
