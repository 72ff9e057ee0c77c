// optimist/detail/containers/tvector.hpp — optimist::tvector<T>. Documented in
// <optimist/containers.hpp>; include that header, not this one.
//
//   data_ ──> storage { capacity, items[0..capacity) }   (a tvar<T> per element)
//   size_     the number of elements in use
//
// INVARIANT (vector-storage): size_ <= data_->capacity, and a storage's
// `capacity` is written only by its constructor, before data_ first points at
// it (read as plain memory, as hash_table.hpp's immutable-node-fields).
// Growing builds a new storage from the current elements and replaces data_;
// the old storage is handed to epoch reclamation, so a transaction that read
// data_ before the swap can still read it until it is aborted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/detail/containers/element_reference.hpp"
#include "optimist/detail/containers/structure_changes.hpp"
#include "optimist/detail/containers/tvar_array.hpp"
#include "optimist/memory.hpp"
#include "optimist/source_location.hpp"
#include "optimist/tvar.hpp"

namespace optimist {

template <class T>
class tvector {
  static_assert(
      std::is_trivially_copyable_v<T>,
      "optimist::tvector<T>: T must be trivially copyable — elements live in tvars, which "
      "the STM copies word by word. Store a pointer (optimist::tx_new) or an index "
      "instead.");
  static_assert(
      std::is_default_constructible_v<T>,
      "optimist::tvector<T>: T must be default-constructible (unused capacity holds T{})");

  static constexpr std::size_t min_capacity = 8;

  struct storage {
    template <class Initial>
    storage(std::size_t n, Initial&& initial)
        : capacity(n), items(n, std::forward<Initial>(initial)) {}
    const std::size_t capacity;  // INVARIANT vector-storage
    const detail::containers::tvar_array<T> items;
  };

 public:
  using value_type = T;
  using size_type = std::size_t;
  class reference;

  tvector() : tvector(0, T{}) {}
  explicit tvector(std::size_t count, const T& value = T{})
      : data_(new storage(count < min_capacity ? min_capacity : count,
                          [&](std::size_t) { return value; })),
        size_(count) {}
  tvector(std::initializer_list<T> items)
      : data_(
            new storage(items.size() < min_capacity ? min_capacity : items.size(),
                        [&](std::size_t i) { return i < items.size() ? items.begin()[i] : T{}; })),
        size_(items.size()) {}
  tvector(const tvector&) = delete;
  tvector& operator=(const tvector&) = delete;

  // With no other thread using the vector, outside any transaction.
  ~tvector() {
    if (in_transaction()) {
      std::fprintf(stderr,
                   "optimist: a tvector was destroyed inside a transaction; its storage is "
                   "leaked. Destroy containers outside transactions (or tx_delete them).\n");
      return;
    }
    delete data_.get();
  }

  void push_back(const T& value, source_location site = source_location::current()) {
    atomically(
        [&] {
          storage* data = data_.get(site);
          const std::size_t n = size_.get(site);
          if (n == data->capacity) data = grow(data, 2 * n, n, site);
          data->items[n].set(value, site);
          size_.set(n + 1, site);
        },
        site);
  }

  // Removes the last element and returns it; std::out_of_range if empty.
  T pop_back(source_location site = source_location::current()) {
    return atomically(
        [&] {
          const std::size_t n = size_.get(site);
          if (n == 0) throw std::out_of_range("optimist::tvector::pop_back: the vector is empty");
          const T last = data_.get(site)->items[n - 1].get(site);
          detail::containers::note_structure_change();  // INVARIANT shape-counted
          size_.set(n - 1, site);
          return last;
        },
        site);
  }

  T at(std::size_t index, source_location site = source_location::current()) const {
    return atomically([&] { return element(index, "at", site).get(site); }, site);
  }
  T get(std::size_t index, source_location site = source_location::current()) const {
    return atomically([&] { return element(index, "get", site).get(site); }, site);
  }
  void set(std::size_t index, const T& value, source_location site = source_location::current()) {
    atomically([&] { element(index, "set", site).set(value, site); }, site);
  }
  template <class F>
  T update(std::size_t index, F&& f, source_location site = source_location::current()) {
    static_assert(std::is_invocable_r_v<T, F&, const T&>,
                  "optimist::tvector::update(index, f): f must take a const T& and return a T");
    return atomically(
        [&] {
          tvar<T>* item = &element(index, "update", site);
          const std::uint64_t changes = detail::containers::tls_structure_changes;
          const T now = std::invoke(f, item->get(site));
          // f may have grown the vector (moving the elements to a new array) or shrunk it
          // (perhaps below this index): look the element up again, checked against the size f
          // left (INVARIANT shape-counted).
          if (detail::containers::tls_structure_changes != changes)
            item = &element(index, "update", site);
          item->set(now, site);
          return now;
        },
        site);
  }
  // Checked like at(), when the proxy is used.
  reference operator[](std::size_t index) { return reference(*this, index); }

  std::size_t size(source_location site = source_location::current()) const {
    return size_.get(site);
  }
  bool empty(source_location site = source_location::current()) const { return size(site) == 0; }
  std::size_t capacity(source_location site = source_location::current()) const {
    return atomically([&] { return data_.get(site)->capacity; }, site);
  }
  void reserve(std::size_t n, source_location site = source_location::current()) {
    atomically(
        [&] {
          storage* data = data_.get(site);
          if (n > data->capacity) grow(data, n, size_.get(site), site);
        },
        site);
  }
  // Size becomes 0; the capacity stays.
  void clear(source_location site = source_location::current()) {
    detail::containers::note_structure_change();  // INVARIANT shape-counted
    size_.set(0, site);
  }

  std::vector<T> snapshot(source_location site = source_location::current()) const {
    return atomically(
        [&] {
          const std::size_t n = size_.get(site);
          storage* data = data_.get(site);
          std::vector<T> items;
          items.reserve(n);
          for (std::size_t i = 0; i < n; ++i) items.push_back(data->items[i].get(site));
          return items;
        },
        site);
  }

  // tvector::reference — what operator[] returns; see <optimist/containers.hpp>.
  class reference : public detail::containers::element_reference<reference, T> {
    using base = detail::containers::element_reference<reference, T>;
    friend base;

   public:
    using base::operator=;
    reference(const reference&) = default;
    // v[i] = v[j] copies the element, not the proxy.
    reference& operator=(const reference& other) {
      write(other.read(source_location::current()), source_location::current());
      return *this;
    }

   private:
    friend class tvector;
    reference(tvector& vector, std::size_t index) : vector_(&vector), index_(index) {}

    T read(source_location site) const { return vector_->get(index_, site); }
    void write(const T& value, source_location site) { vector_->set(index_, value, site); }
    template <class F>
    T modify(F&& f, source_location site) {
      return vector_->update(index_, std::forward<F>(f), site);
    }

    tvector* vector_;
    std::size_t index_;
  };

 private:
  // The element at `index` (inside a transaction); std::out_of_range naming
  // `operation` when index >= size.
  tvar<T>& element(std::size_t index, const char* operation, source_location site) const {
    const std::size_t n = size_.get(site);
    if (index >= n) {
      throw std::out_of_range("optimist::tvector::" + std::string(operation) + ": index " +
                              std::to_string(index) + " is out of range (size " +
                              std::to_string(n) + ")");
    }
    return data_.get(site)->items[index];
  }

  // Replaces `old` by a storage of at least `capacity` holding its first
  // `used` elements.
  storage* grow(storage* old, std::size_t capacity, std::size_t used, source_location site) {
    if (capacity < min_capacity) capacity = min_capacity;
    storage* fresh = tx_new<storage>(
        capacity, [&](std::size_t i) { return i < used ? old->items[i].get(site) : T{}; });
    detail::containers::note_structure_change();  // INVARIANT shape-counted
    data_.set(fresh, site);
    // Replaced once, so deleted once: counted with its array for reclamation.
    detail::tx_delete_unlinked(old, site, sizeof(storage) + old->capacity * sizeof(tvar<T>));
    return fresh;
  }

  tvar<storage*> data_;
  tvar<std::size_t> size_;
};

}  // namespace optimist
