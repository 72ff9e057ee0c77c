// The process-wide execution mode (optimist/mode.hpp): read once from
// OPTIMIST_MODE, changed by set_execution_mode().
#include <cpuid.h>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "optimist/mode.hpp"

namespace optimist {

namespace {

// -1: not yet read from the environment.
std::atomic<int> current_mode{-1};
std::mutex environment_mutex;

execution_mode mode_from_environment() {
  const char* text = std::getenv("OPTIMIST_MODE");
  if (text == nullptr || *text == '\0') return execution_mode::automatic;
  try {
    return parse_execution_mode(text);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("optimist: OPTIMIST_MODE=\"" + std::string(text) +
                                "\" is not a mode (use stm, htm or auto)");
  }
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
  }
  return "?";
}

execution_mode parse_execution_mode(std::string_view text) {
  if (text == "stm") return execution_mode::stm;
  if (text == "htm") return execution_mode::htm;
  if (text == "auto" || text == "automatic") return execution_mode::automatic;
  throw std::invalid_argument("optimist: \"" + std::string(text) +
                              "\" is not an execution mode (use stm, htm or auto)");
}

void set_execution_mode(execution_mode mode) {
  current_mode.store(static_cast<int>(mode), std::memory_order_relaxed);
}

execution_mode execution_mode_now() {
  int mode = current_mode.load(std::memory_order_relaxed);
  if (mode >= 0) return static_cast<execution_mode>(mode);
  std::lock_guard<std::mutex> guard(environment_mutex);
  mode = current_mode.load(std::memory_order_relaxed);
  if (mode >= 0) return static_cast<execution_mode>(mode);
  execution_mode from_environment = mode_from_environment();  // may throw: stays unread
  current_mode.store(static_cast<int>(from_environment), std::memory_order_relaxed);
  return from_environment;
}

}  // namespace optimist
