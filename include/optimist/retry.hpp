// optimist/retry.hpp — blocking inside transactions.
//
// optimist::retry() says: this transaction has seen a state it cannot proceed
// with (an empty queue, a balance too low). The attempt is rolled back and the
// thread sleeps until a committed transaction changes a word it read, then
// runs the block again. optimist::retry_until(deadline) waits the same way,
// but not past the deadline. optimist::or_else(f, g) tries f and, if f
// retries, undoes f and tries g instead.
//
//   int item = optimist::atomically([&] {
//     if (size.get() == 0) optimist::retry();   // sleep until `size` changes
//     return take_one();
//   });
//
//   auto job = optimist::or_else([&] { return take_from(urgent); },   // retries if empty
//                                [&] { return take_from(normal); });  // tried if it did
//
//   const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
//   std::optional<int> got = optimist::atomically([&]() -> std::optional<int> {
//     if (size.get() == 0) {
//       optimist::retry_until(deadline);  // returns only once the deadline has passed
//       return std::nullopt;              // timed out: still empty
//     }
//     return take_one();
//   });
//
// retry()
//   Rolls the attempt back and waits — asleep, no busy waiting — until some
//   committed transaction (or a single store outside a transaction) writes a
//   word this attempt read, then runs the outermost block again. Inside
//   or_else's first alternative it hands over to the second one instead.
//   Inside a task (run_all_tasks) the worker does not wait: the task is set
//   aside and runs again once a commit touches what it read (optimist/tasks.hpp).
//   Throws std::logic_error, naming the call site, when the wait could never
//   end or the attempt cannot be rolled back: outside an atomic block, when the
//   transaction has read no transactional memory, after become_inevitable().
//   Counted in optimist::stats().retries.
//
// retry_until(deadline)
//   Before `deadline` (std::chrono::steady_clock), as retry(), except that the
//   wait also ends at the deadline: the block then runs again. From the
//   deadline on, returns at once and the block goes on (the timed-out case:
//   return a "nothing yet", throw, ...). So a block that calls it sees either
//   a state it can proceed with or a deadline that has passed; the block runs
//   again after every commit that changes what it read, as with retry().
//   Compute the deadline once, outside the block: a deadline computed inside
//   it would move with every re-run (there is no retry_for(duration) for that
//   reason; tqueue::pop_for computes its deadline when called).
//   Composes like retry(): inside or_else's first alternative it hands over to
//   the second one; if that retries too, the block waits for a change to
//   anything either read or for the earlier deadline of the two. Inside a task
//   the task is set aside as for retry() and runs again at the deadline at the
//   latest; the run does not end while such a task waits (its workers sleep
//   while nothing else is left to do). Unlike retry(), a block that has read
//   nothing may wait: it sleeps until the deadline. The same errors as
//   retry(), checked only while the deadline lies ahead, except outside an
//   atomic block: std::logic_error whatever the deadline. Counted in
//   optimist::stats().retries each time it waits; the deadline's clock is
//   read once per call (a hardware attempt first falls back to software).
//
// or_else(f, g)
//   Runs f as a nested atomic block. If f retries, its effects are rolled back
//   (what it read is kept for waiting) and g runs as a nested block in the same
//   transaction, seeing the state as it was before f. If g retries too, the
//   enclosing transaction retries and waits for a change to anything f or g
//   read. Returns what the alternative that ran returns (the common type of
//   both); an exception from either propagates as from any nested block.
//   Outside a transaction it is an atomic block of its own. Alternatives nest:
//   or_else(f, [&] { return or_else(g, h); }).
#pragma once

#include <chrono>
#include <functional>
#include <type_traits>

#include "optimist/atomically.hpp"
#include "optimist/detail/engine.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

[[noreturn]] void retry(source_location site = source_location::current());

void retry_until(std::chrono::steady_clock::time_point deadline,
                 source_location site = source_location::current());

template <class F, class G>
auto or_else(F&& f, G&& g, source_location site = source_location::current())
    -> std::common_type_t<std::invoke_result_t<F&>, std::invoke_result_t<G&>> {
  using result = std::common_type_t<std::invoke_result_t<F&>, std::invoke_result_t<G&>>;
  // Outside a transaction, or directly in a C one (whose restart point a
  // retry of f would jump to, past the second alternative): a block of its own.
  if (!detail::in_transaction() || detail::runs_directly_in_c()) {
    return atomically([&]() -> result { return or_else(f, g, site); }, site);
  }
  try {
    struct first_alternative {
      first_alternative() noexcept { detail::or_else_first_enter(); }
      ~first_alternative() { detail::or_else_first_leave(); }
      first_alternative(const first_alternative&) = delete;
      first_alternative& operator=(const first_alternative&) = delete;
    } first;
    return atomically(f, site);  // nested: a retry rolls back f's level and leaves it
  } catch (const detail::retry_signal&) {
    if (!detail::retry_absorbed()) throw;
  }
  return atomically(g, site);
}

}  // namespace optimist
