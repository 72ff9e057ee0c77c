// Doorbells: the links of wait-table waiters that wait for one more item of a
// container (doorbell.cpp describes the protocol).
#pragma once

#include "stm/retry_wait.hpp"

namespace optimist::detail {

class transaction;

// Registration (W1 and D2 of doorbell.cpp): appends `link` to its doorbell's
// list and counts it (a seq_cst read-modify-write, before the waiter's W3).
void doorbell_link(bell_link& link) noexcept;

// Unregistration (D5): takes `link` out of its list unless a ring already
// has, and uncounts it. Takes the bucket mutex in either case, so that what a
// ring wrote to the waiter (rung_) is visible afterwards.
void doorbell_unlink(bell_link& link) noexcept;

// INVARIANT doorbell-duty: tx's block gives up (again) with the marks
// [marks, marks_end); if it owes a ring to a doorbell it does not wait at
// again, rings it. Clears the duty.
void settle_doorbell_duty(transaction& tx, const doorbell_mark* marks,
                          const doorbell_mark* marks_end) noexcept;

}  // namespace optimist::detail
