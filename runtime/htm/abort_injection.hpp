// Test seam for the hardware policy: while an abort source is set on a thread,
// each of its hardware attempts takes its abort status from the source instead
// of executing XBEGIN, and the block's body is not run in hardware. Tests use
// it to drive the policy with the statuses a real CPU returns (capacity,
// conflict with or without the retry bit, explicit codes) on any machine.
#pragma once

namespace optimist::detail {

// Returns the RTM abort status for the next attempt (never _XBEGIN_STARTED).
using abort_source = unsigned (*)(void* context);

// nullptr switches injection off for this thread.
void set_abort_injection(abort_source source, void* context) noexcept;

// Abort status bits and explicit codes, as the CPU reports them (Intel SDM,
// RTM abort status in EAX), so tests need not include <immintrin.h>.
inline constexpr unsigned rtm_abort_explicit = 1u << 0;
inline constexpr unsigned rtm_abort_retry = 1u << 1;
inline constexpr unsigned rtm_abort_conflict = 1u << 2;
inline constexpr unsigned rtm_abort_capacity = 1u << 3;
inline constexpr unsigned rtm_abort_code(unsigned status) {
  return (status >> 24) & 0xFF;
}
inline constexpr unsigned rtm_explicit_status(unsigned code) {
  return rtm_abort_explicit | (code << 24);
}

// optimist's explicit abort codes.
inline constexpr unsigned abort_code_locked = 0x01;      // a software committer held an orec
inline constexpr unsigned abort_code_reserved = 0x02;    // the inevitable transaction holds it
inline constexpr unsigned abort_code_inevitable = 0x03;  // the block became inevitable
inline constexpr unsigned abort_code_exception = 0x04;   // an exception left the block
inline constexpr unsigned abort_code_retry = 0x05;       // the block called optimist::retry()
inline constexpr unsigned abort_code_waiters = 0x06;     // a writer while threads wait in retry()

}  // namespace optimist::detail
