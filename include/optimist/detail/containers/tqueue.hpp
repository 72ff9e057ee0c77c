// optimist/detail/containers/tqueue.hpp — optimist::tqueue<T>. Documented in
// <optimist/containers.hpp>; include that header, not this one.
//
//   head_ ──> sentinel ──> item ──> item ──> null
//                                    ^
//   tail_ ───────────────────────────┘
//
// INVARIANT (queue-chain): head_ points at a sentinel node whose value is
// empty; the items are the nodes after it, in order; tail_ points at the last
// node of that chain (the sentinel itself when the queue is empty). pop makes
// the first item the new sentinel and retires the old one, so consumers write
// head_ only and producers write tail_ and the last node's link only: on a
// non-empty queue a producer and a consumer touch disjoint words.
//
// INVARIANT (immutable-item): a node's value is written by its constructor
// only, before the node is published, and is read as plain memory (see
// hash_table.hpp's immutable-node-fields). That is why T need only be
// copyable, not trivially copyable.
//
// pushed_ and popped_ count for size(): each is written only by the side that
// already writes its neighbour (tail_ or head_), on that side's cache line.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/detail/engine.hpp"
#include "optimist/memory.hpp"
#include "optimist/retry.hpp"
#include "optimist/source_location.hpp"
#include "optimist/tvar.hpp"

namespace optimist {

template <class T>
class tqueue {
  static_assert(std::is_copy_constructible_v<T> && !std::is_reference_v<T>,
                "optimist::tqueue<T>: T must be a copyable object type");

  struct node {
    node() = default;
    explicit node(const T& v) : value(v) {}
    tvar<node*> next;
    const std::optional<T> value{};  // INVARIANT immutable-item; empty only in the first sentinel
  };

 public:
  using value_type = T;
  using size_type = std::size_t;

  tqueue() : tqueue(new node()) {}
  tqueue(const tqueue&) = delete;
  tqueue& operator=(const tqueue&) = delete;

  // With no other thread using the queue, outside any transaction.
  ~tqueue() {
    if (in_transaction()) {
      std::fprintf(stderr,
                   "optimist: a tqueue was destroyed inside a transaction; its items are leaked. "
                   "Destroy containers outside transactions (or tx_delete them).\n");
      return;
    }
    node* n = head_.get();
    while (n != nullptr) {
      node* next = n->next.get();
      delete n;
      n = next;
    }
  }

  void push(const T& value, source_location site = source_location::current()) {
    const bool nested = in_transaction();
    atomically(
        [&] {
          node* fresh = tx_new<node>(value);
          node* last = tail_.get(site);
          last->next.set(fresh, site);
          tail_.set(fresh, site);
          pushed_.set(pushed_.get(site) + 1, site);
          if (nested) detail::ring_doorbell_after_commit(doorbell());
        },
        site);
    if (!nested) detail::ring_doorbell(doorbell());  // INVARIANT doorbell-no-lost-item
  }

  // The first item, removed; std::nullopt if the queue is empty.
  std::optional<T> try_pop(source_location site = source_location::current()) {
    return atomically(
        [&]() -> std::optional<T> {
          node* sentinel = head_.get(site);
          node* first = sentinel->next.get(site);
          if (first == nullptr) return std::nullopt;
          take(sentinel, first, site);
          return first->value;
        },
        site);
  }

  // The first item, removed; waits until there is one: the consumer gives up
  // at the queue's doorbell (optimist::retry, except that each push wakes one
  // waiting consumer instead of all of them), so inside a transaction it
  // composes with or_else like retry.
  T pop(source_location site = source_location::current()) {
    return atomically(
        [&]() -> T {
          const std::size_t reads_from = detail::read_position();
          node* sentinel = head_.get(site);
          node* first = sentinel->next.get(site);
          if (first == nullptr) detail::retry_at_doorbell(doorbell(), reads_from, site);
          take(sentinel, first, site);
          return *first->value;
        },
        site);
  }

  // The first item, removed; waits while the queue is empty, but not past
  // `deadline` (std::chrono::steady_clock): std::nullopt then. Waits as pop()
  // does (optimist::retry_until: composes with or_else; inside a task the task
  // is set aside until a push or the deadline).
  std::optional<T> pop_until(std::chrono::steady_clock::time_point deadline,
                             source_location site = source_location::current()) {
    return atomically(
        [&]() -> std::optional<T> {
          const std::size_t reads_from = detail::read_position();
          node* sentinel = head_.get(site);
          node* first = sentinel->next.get(site);
          if (first == nullptr) {
            detail::retry_at_doorbell_until(doorbell(), reads_from, deadline, site);
            return std::nullopt;  // the deadline has passed
          }
          take(sentinel, first, site);
          return first->value;
        },
        site);
  }

  // pop_until(now + timeout), the deadline taken when called.
  template <class Rep, class Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout,
                           source_location site = source_location::current()) {
    using clock = std::chrono::steady_clock;
    const clock::time_point now = clock::now();
    // A timeout past the clock's range (hours::max() for "for ever") waits until
    // time_point::max(): now + timeout would overflow into the past and not wait at all.
    // Compared in floating-point seconds: the headroom (about 292 years) fits
    // no narrow Rep (duration<int, std::milli> wraps), and casting it would.
    using seconds = std::chrono::duration<long double>;
    if (seconds(timeout) >= seconds(clock::time_point::max() - now))
      return pop_until(clock::time_point::max(), site);
    return pop_until(now + std::chrono::duration_cast<clock::duration>(timeout), site);
  }

  // The first item, left in place; std::out_of_range if the queue is empty.
  T front(source_location site = source_location::current()) const {
    return atomically(
        [&]() -> T {
          node* first = head_.get(site)->next.get(site);
          if (first == nullptr)
            throw std::out_of_range("optimist::tqueue::front: the queue is empty");
          return *first->value;
        },
        site);
  }

  bool empty(source_location site = source_location::current()) const {
    return atomically([&] { return head_.get(site)->next.get(site) == nullptr; }, site);
  }

  std::size_t size(source_location site = source_location::current()) const {
    return atomically(
        [&] { return static_cast<std::size_t>(pushed_.get(site) - popped_.get(site)); }, site);
  }

  // The items, first to last.
  std::vector<T> snapshot(source_location site = source_location::current()) const {
    return atomically(
        [&] {
          std::vector<T> items;
          for (node* n = head_.get(site)->next.get(site); n != nullptr; n = n->next.get(site)) {
            items.push_back(*n->value);
          }
          return items;
        },
        site);
  }

 private:
  explicit tqueue(node* sentinel) : head_(sentinel), tail_(sentinel) {}

  // The doorbell consumers wait at (detail/engine.hpp): the word every take
  // writes, so that the engine can tell a commit that took an item
  // (INVARIANT doorbell-duty, runtime/stm/doorbell.cpp).
  const void* doorbell() const noexcept { return &popped_; }
  static_assert(sizeof(tvar<std::uint64_t>) == 8 && std::is_standard_layout_v<tvar<std::uint64_t>>,
                "the doorbell is the address of popped_'s one word");

  // INVARIANT queue-chain: `first` becomes the sentinel; the old one is retired.
  void take(node* sentinel, node* first, source_location site) {
    head_.set(first, site);
    popped_.set(popped_.get(site) + 1, site);
    detail::tx_delete_unlinked(sentinel,
                               site);  // once per transaction: no search for a double delete
  }

  // Consumer side and producer side on separate cache lines.
  alignas(64) tvar<node*> head_;
  tvar<std::uint64_t> popped_;
  alignas(64) tvar<node*> tail_;
  tvar<std::uint64_t> pushed_;
};

}  // namespace optimist
