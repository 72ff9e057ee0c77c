// The accesses of a running hardware transaction (hardware_path_rtm.cpp holds
// the protocol). Called by the software barriers when the thread's
// transaction is in tx_mode::hardware; never outside a hardware transaction.
#pragma once

#include <cstdint>

#include "optimist/source_location.hpp"

namespace optimist::detail {

class transaction;

std::uint64_t hardware_read(std::uintptr_t word, std::uint64_t mask) noexcept;
// `site`: the write's, left in the orec's site slot while reporting.
void hardware_write(transaction& tx, std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                    const source_location& site) noexcept;
// Ends the hardware transaction with one of the explicit codes of
// abort_injection.hpp (abort_code_inevitable, abort_code_retry; anything else
// is reported as abort_code_exception); the block then runs in software.
[[noreturn]] void hardware_abort(unsigned code) noexcept;

}  // namespace optimist::detail
