// optimist/memory.hpp — allocation inside transactions.
//
// optimist::tx_new<T>(args...) allocates and constructs an object that is
// freed again if the transaction aborts; optimist::tx_delete(p) destroys an
// object only once the transaction has committed *and* no transaction that
// might still be reading it is running (epoch-based reclamation). Use them
// for every node of a linked structure that transactions traverse.
//
//   struct node {
//     node(node* n, long k) : next(n), key(k) {}
//     optimist::tvar<node*> next;
//     long key;
//   };
//   optimist::tvar<node*> head;
//   optimist::atomically([&] { head.set(optimist::tx_new<node>(head.get(), 42)); });
//   optimist::atomically([&] {
//     node* n = head.get();
//     head.set(n->next.get());
//     optimist::tx_delete(n);     // others may still be reading n: reclaimed later
//   });
//
// tx_new<T>(args...)
//   Outside a transaction it is a plain `new`. Throws what `new` throws.
//   If the transaction aborts, each object it allocated is destroyed on its own:
//   a destructor must not tx_delete objects the same transaction allocated.
// tx_delete(p)
//   Null is ignored. Deleting the same pointer twice in one transaction throws
//   std::logic_error. Outside a transaction the object is retired at once and
//   destroyed when no running transaction can read it. The destructor runs at
//   reclamation time, on whichever thread reclaims. Only transactions are
//   protected: a pointer read outside any transaction may already be gone.
//   A block that ran serially (mode serial, or auto while a thread runs
//   alone) had no reader beside it: what it deleted is destroyed as it
//   commits, on its thread, before atomically() returns (once objects the
//   thread deleted in speculative blocks before are no longer waiting; and
//   not while a serial block of another thread that gave way to a waiting
//   one (mode.hpp) is still running towards its restart: it may still read
//   the object, which is then retired. A block run by the destructor of such
//   an object leaves its deletions to the destroying block, which destroys
//   them before it returns).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "optimist/detail/engine.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

namespace detail {
template <class T>
void destroy_object(void* p) noexcept {
  delete static_cast<T*>(p);
}

// tx_delete for the containers' own nodes, each unlinked (and so deleted) at
// most once per transaction: skips the double-delete search (engine.hpp).
// `bytes`: what deleting the object frees, its own size and what only it owns
// (a container's array): reclamation frees sooner once many bytes wait, and
// an array counted as its 24-byte header waited for 256 more deletions.
template <class T>
void tx_delete_unlinked(T* object, source_location site, std::size_t bytes = sizeof(T)) {
  if (object == nullptr) return;
  log_unique_deletion(const_cast<std::remove_cv_t<T>*>(object),
                      &destroy_object<std::remove_cv_t<T>>, site, bytes);
}
}  // namespace detail

template <class T, class... Args>
T* tx_new(Args&&... args) {
  static_assert(!std::is_array_v<T>, "optimist::tx_new<T>: arrays are not supported; use a struct");
  T* object = new T(std::forward<Args>(args)...);
  try {
    detail::log_allocation(object, &detail::destroy_object<T>);
  } catch (...) {
    delete object;
    throw;
  }
  return object;
}

template <class T>
void tx_delete(T* object, source_location site = source_location::current()) {
  static_assert(!std::is_void_v<T>, "optimist::tx_delete: cannot delete through void*");
  if (object == nullptr) return;
  detail::log_deletion(const_cast<std::remove_cv_t<T>*>(object),
                       &detail::destroy_object<std::remove_cv_t<T>>, site, sizeof(T));
}

}  // namespace optimist
