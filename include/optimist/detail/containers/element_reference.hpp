// optimist/detail/containers/element_reference.hpp — the proxy behind m[k] of the maps and
// tvector[i].
//
// Not for users. An element of a transactional container has no stable
// address a C++ reference could bind to (a map entry may be inserted by the
// very assignment that names it), so operator[] returns a small proxy. Every
// operation on it is one atomic step of the container (joining the running
// transaction, if any), and compound assignments are read-modify-writes:
// `counts[word] += 1` never loses an increment.
//
// Derived provides
//   V read(source_location) const          the element's value
//   void write(const V&, source_location)  replace it
//   V modify(F f, source_location)         value = f(value) in one atomic step; returns it
#pragma once

#include <utility>

#include "optimist/source_location.hpp"
#include "optimist/tvar.hpp"

namespace optimist::detail::containers {

template <class Derived, class V>
class element_reference {
 public:
  // The value, as the running transaction sees it.
  V get(source_location site = source_location::current()) const { return self().read(site); }
  operator V() const { return self().read(source_location::current()); }

  Derived& operator=(value_at_site<V> v) {
    self().write(v.value, v.site);
    return self();
  }

  // Compound assignments return the new value.
  V operator+=(value_at_site<V> d) {
    return self().modify([&](const V& x) { return static_cast<V>(x + d.value); }, d.site);
  }
  V operator-=(value_at_site<V> d) {
    return self().modify([&](const V& x) { return static_cast<V>(x - d.value); }, d.site);
  }
  V operator*=(value_at_site<V> d) {
    return self().modify([&](const V& x) { return static_cast<V>(x * d.value); }, d.site);
  }
  V operator/=(value_at_site<V> d) {
    return self().modify([&](const V& x) { return static_cast<V>(x / d.value); }, d.site);
  }
  V operator|=(value_at_site<V> d) {
    return self().modify([&](const V& x) { return static_cast<V>(x | d.value); }, d.site);
  }
  V operator&=(value_at_site<V> d) {
    return self().modify([&](const V& x) { return static_cast<V>(x & d.value); }, d.site);
  }
  V operator^=(value_at_site<V> d) {
    return self().modify([&](const V& x) { return static_cast<V>(x ^ d.value); }, d.site);
  }
  // Prefix forms return the new value, postfix forms the old one.
  V operator++() {
    return self().modify([](const V& x) { return static_cast<V>(x + 1); },
                         source_location::current());
  }
  V operator--() {
    return self().modify([](const V& x) { return static_cast<V>(x - 1); },
                         source_location::current());
  }
  V operator++(int) {
    V old{};
    self().modify(
        [&](const V& x) {
          old = x;  // the attempt that commits assigns it last
          return static_cast<V>(x + 1);
        },
        source_location::current());
    return old;
  }
  V operator--(int) {
    V old{};
    self().modify(
        [&](const V& x) {
          old = x;
          return static_cast<V>(x - 1);
        },
        source_location::current());
    return old;
  }

 protected:
  element_reference() = default;
  element_reference(const element_reference&) = default;
  element_reference& operator=(const element_reference&) = default;
  ~element_reference() = default;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

// A map's m[k] (tmap, tsorted_map): Map provides find(k, site) ->
// std::optional<V>, insert_or_assign(k, v, site) and update(k, f, site).
template <class Map, class K, class V>
class map_reference : public element_reference<map_reference<Map, K, V>, V> {
  using base = element_reference<map_reference<Map, K, V>, V>;
  friend base;

 public:
  using base::operator=;
  map_reference(const map_reference&) = default;
  // m[a] = m[b] copies the value, not the proxy.
  map_reference& operator=(const map_reference& other) {
    write(other.read(source_location::current()), source_location::current());
    return *this;
  }

 private:
  friend Map;
  map_reference(Map& map, const K& key) : map_(&map), key_(key) {}

  V read(source_location site) const { return map_->find(key_, site).value_or(V{}); }
  void write(const V& value, source_location site) { map_->insert_or_assign(key_, value, site); }
  template <class F>
  V modify(F&& f, source_location site) {
    return map_->update(key_, std::forward<F>(f), site);
  }

  Map* map_;
  K key_;
};

}  // namespace optimist::detail::containers
