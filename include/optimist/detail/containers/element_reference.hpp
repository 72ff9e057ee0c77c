// optimist/detail/containers/element_reference.hpp — the proxy behind tmap[k] and tvector[i].
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

}  // namespace optimist::detail::containers
