// optimist/mode.hpp — software only, or hardware transactions first.
//
// Where the CPU has Intel RTM, an atomic block can first run as a hardware
// transaction and fall back to the software path (STM) when that fails. Both
// kinds run at the same time and stay consistent with each other: no thread
// ever stops because another one fell back.
//
//   optimist::set_execution_mode(optimist::execution_mode::stm);  // software only
//   if (optimist::htm_available()) { ... }
//
// execution_mode
//   stm        software transactions only.
//   htm        hardware first, even where CPUID does not report RTM (for
//              testing the fallback path; throws std::runtime_error at the first
//              transaction if the instruction itself is not executable).
//   automatic  the default: hardware first where CPUID reports RTM, else stm.
//
// The mode starts from the OPTIMIST_MODE environment variable (stm, htm or
// auto; anything else throws std::invalid_argument naming the value at the
// first transaction) and can be changed with set_execution_mode() or for one
// run with run_options::mode. Change it while no transaction runs.
#pragma once

#include <string_view>

namespace optimist {

enum class execution_mode { stm, htm, automatic };

// set_execution_mode(mode) / execution_mode_now()
//   Sets or reads the process-wide mode.
void set_execution_mode(execution_mode mode);
execution_mode execution_mode_now();

// htm_available()
//   True if CPUID says this CPU has RTM (leaf 7, EBX bit 11).
bool htm_available() noexcept;

// to_string(mode) / parse_execution_mode(text)
//   "stm", "htm", "auto"; parsing anything else throws std::invalid_argument.
std::string_view to_string(execution_mode mode) noexcept;
execution_mode parse_execution_mode(std::string_view text);

}  // namespace optimist
