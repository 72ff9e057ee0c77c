// The execution mode (optimist/mode.hpp): read once from OPTIMIST_MODE,
// changed by set_execution_mode(), overridden per thread by
// scoped_execution_mode; resolved to a hardware_kind (hardware_mode.hpp).
//
// INVARIANT (maybe-flag): detail::g_hardware_maybe is false only while the
// resolved process kind is `none` and no thread override is alive, so the
// one-load check in atomically() never skips a hardware attempt that some
// thread's mode asks for.
#include <cpuid.h>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "htm/hardware_mode.hpp"
#include "optimist/detail/engine.hpp"
#include "optimist/mode.hpp"
#include "stm/serial_mode.hpp"

namespace optimist {

namespace {

constexpr int unresolved = -1;

// Guarded by mode_mutex for writes; read relaxed.
std::atomic<int> current_mode{unresolved};
std::atomic<int> current_kind{unresolved};
std::atomic<unsigned> overrides_alive{0};
std::mutex mode_mutex;

// -1: no override on this thread; else a hardware_kind.
[[gnu::tls_model("initial-exec")]] thread_local int tls_kind_override = unresolved;

// Serial mode (runtime/stm/serial_mode.hpp): whether a mode's outermost blocks
// run serially.
detail::serial_choice serial_choice_for(execution_mode mode) {
  switch (mode) {
    case execution_mode::serial:
      return detail::serial_choice::always;
    case execution_mode::automatic:
      return detail::serial_choice::when_alone;  // the controller (serial_mode.hpp)
    case execution_mode::stm:
    case execution_mode::htm:
      break;
  }
  return detail::serial_choice::never;
}

execution_mode mode_from_environment() {
  const char* text = std::getenv("OPTIMIST_MODE");
  if (text == nullptr || *text == '\0') return execution_mode::automatic;
  try {
    return parse_execution_mode(text);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("optimist: OPTIMIST_MODE=\"" + std::string(text) +
                                "\" is not a mode (use stm, htm, serial or auto)");
  }
}

// Caller holds mode_mutex.
void publish(execution_mode mode) {
  auto kind = detail::hardware_kind_for(mode);
  current_mode.store(static_cast<int>(mode), std::memory_order_relaxed);
  current_kind.store(static_cast<int>(kind), std::memory_order_relaxed);
  detail::g_serial_choice.store(static_cast<int>(serial_choice_for(mode)),
                                std::memory_order_relaxed);
  detail::g_hardware_maybe.store(
      kind != detail::hardware_kind::none || overrides_alive.load(std::memory_order_relaxed) > 0,
      std::memory_order_relaxed);
}

void resolve_from_environment() {
  std::lock_guard<std::mutex> guard(mode_mutex);
  if (current_mode.load(std::memory_order_relaxed) != unresolved) return;
  publish(mode_from_environment());  // may throw: stays unresolved, and says so again next time
}

}  // namespace

bool htm_available() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  return (ebx & (1u << 11)) != 0;
}

std::string_view to_string(execution_mode mode) noexcept {
  switch (mode) {
    case execution_mode::stm:
      return "stm";
    case execution_mode::htm:
      return "htm";
    case execution_mode::automatic:
      return "auto";
    case execution_mode::serial:
      return "serial";
  }
  return "?";
}

execution_mode parse_execution_mode(std::string_view text) {
  if (text == "stm") return execution_mode::stm;
  if (text == "htm") return execution_mode::htm;
  if (text == "auto" || text == "automatic") return execution_mode::automatic;
  if (text == "serial") return execution_mode::serial;
  throw std::invalid_argument("optimist: \"" + std::string(text) +
                              "\" is not an execution mode (use stm, htm, serial or auto)");
}

void set_execution_mode(execution_mode mode) {
  if (mode != execution_mode::stm && mode != execution_mode::htm &&
      mode != execution_mode::automatic && mode != execution_mode::serial) {
    throw std::invalid_argument(
        "optimist::set_execution_mode: " + std::to_string(static_cast<int>(mode)) +
        " is not an execution_mode");
  }
  if (detail::in_transaction()) {
    // Each outermost block takes the mode at its start; a change from inside
    // one would apply to nothing of it, and to or from htm it must not happen
    // while transactions run at all.
    throw std::logic_error(
        "optimist::set_execution_mode called inside an atomic block: set the mode between "
        "blocks (or for one run of tasks with run_options::mode)");
  }
  std::lock_guard<std::mutex> guard(mode_mutex);
  publish(mode);
  // Auto mode's controller starts again from speculation: a program that sets
  // the mode starts a phase of its own.
  if (mode == execution_mode::automatic) detail::reset_mode_controller();
}

execution_mode execution_mode_now() {
  if (current_mode.load(std::memory_order_relaxed) == unresolved) resolve_from_environment();
  return static_cast<execution_mode>(current_mode.load(std::memory_order_relaxed));
}

namespace detail {

hardware_kind hardware_kind_for(execution_mode mode) {
  switch (mode) {
    case execution_mode::stm:
    case execution_mode::serial:
      return hardware_kind::none;
    case execution_mode::htm:
      return rtm_instruction_executes() ? hardware_kind::real : hardware_kind::simulated;
    case execution_mode::automatic:
      return htm_available() && rtm_instruction_executes() ? hardware_kind::real
                                                           : hardware_kind::none;
  }
  return hardware_kind::none;
}

hardware_kind thread_hardware_kind() {
  if (tls_kind_override != unresolved) return static_cast<hardware_kind>(tls_kind_override);
  int kind = current_kind.load(std::memory_order_relaxed);
  if (kind == unresolved) {
    resolve_from_environment();
    kind = current_kind.load(std::memory_order_relaxed);
  }
  return static_cast<hardware_kind>(kind);
}

bool thread_runs_serial_unresolved(const transaction& tx) {
  resolve_from_environment();  // may throw: stays unresolved
  return thread_runs_serial(tx);
}

scoped_execution_mode::scoped_execution_mode(execution_mode mode)
    : previous_(tls_kind_override), previous_serial_(tls_serial_choice) {
  int kind = static_cast<int>(hardware_kind_for(mode));
  {
    std::lock_guard<std::mutex> guard(mode_mutex);
    overrides_alive.fetch_add(1, std::memory_order_relaxed);
    g_hardware_maybe.store(true, std::memory_order_relaxed);
  }
  tls_kind_override = kind;
  tls_serial_choice = static_cast<int>(serial_choice_for(mode));
}

scoped_execution_mode::~scoped_execution_mode() {
  tls_kind_override = previous_;
  tls_serial_choice = previous_serial_;
  std::lock_guard<std::mutex> guard(mode_mutex);
  overrides_alive.fetch_sub(1, std::memory_order_relaxed);
  int kind = current_kind.load(std::memory_order_relaxed);
  g_hardware_maybe.store(kind == unresolved || kind != static_cast<int>(hardware_kind::none) ||
                             overrides_alive.load(std::memory_order_relaxed) > 0,
                         std::memory_order_relaxed);
}

}  // namespace detail

}  // namespace optimist
