// Sites of -fgnu-tm code: the return address of an _ITM_* call made into a
// source_location (file:line in function) that the reports quote.
#pragma once

#include "optimist/source_location.hpp"

namespace optimist::detail {

// The site of the instruction that called at `return_address`: symbolized
// from the program's debug information when it has some (libbacktrace), else
// "<module>+0x<offset>" with the nearest symbol. Cached per address; never
// throws (an empty location when out of memory).
source_location itm_site(const void* return_address) noexcept;

}  // namespace optimist::detail
