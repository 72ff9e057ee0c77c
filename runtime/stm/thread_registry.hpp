// Every thread that runs a transaction owns a descriptor from this registry.
// Descriptors are pushed onto a lock-free list and never removed: a thread
// that ends marks its descriptor free for the next new thread. Other threads
// walk the list to sum statistics and to find the oldest running transaction.
#pragma once

#include "stm/transaction.hpp"

namespace optimist::detail {

// The calling thread's descriptor, or nullptr before its first use. Constant-
// initialised, initial-exec: reading it is one fs-relative load.
[[gnu::tls_model("initial-exec")]] inline thread_local transaction* tls_descriptor = nullptr;

// Registers the calling thread (first use): the slow path of
// this_thread_transaction().
[[gnu::noinline]] transaction& register_this_thread();

// The calling thread's descriptor (registered on first use). Inline: the
// common case is one thread-local load and a test.
inline transaction& this_thread_transaction() {
  if (transaction* t = tls_descriptor) [[likely]]
    return *t;
  return register_this_thread();
}

// The first registered descriptor; follow next_registered for the rest.
transaction* first_registered() noexcept;

template <class F>
void for_each_registered(F&& f) {
  for (transaction* t = first_registered(); t != nullptr; t = t->next_registered) f(*t);
}

}  // namespace optimist::detail
