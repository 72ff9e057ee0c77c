// optimist/detail/containers/tsorted_set.hpp — optimist::tsorted_set<K>. Documented in
// <optimist/containers.hpp>; include that header, not this one.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <type_traits>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/detail/containers/skip_list.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

template <class K, class Compare = std::less<K>>
class tsorted_set {
  static_assert(std::is_copy_constructible_v<K> && !std::is_reference_v<K>,
                "optimist::tsorted_set<K>: K must be a copyable object type");
  static_assert(std::is_invocable_r_v<bool, const Compare&, const K&, const K&>,
                "optimist::tsorted_set<K, Compare>: Compare must order two const K&");

  using list_type = detail::containers::skip_list<K, void, Compare>;
  using node = typename list_type::node;

 public:
  using key_type = K;
  using value_type = K;
  using key_compare = Compare;
  using size_type = std::size_t;

  explicit tsorted_set(const Compare& less = Compare()) : list_(less) {}
  tsorted_set(std::initializer_list<K> keys, const Compare& less = Compare()) : tsorted_set(less) {
    for (const K& key : keys) insert(key);
  }
  tsorted_set(const tsorted_set&) = delete;
  tsorted_set& operator=(const tsorted_set&) = delete;

  bool insert(const K& key, source_location site = source_location::current()) {
    return atomically(
        [&]() -> bool {
          const auto where = list_.locate(key, site);
          if (where.found != nullptr) return false;
          list_.link_new(where, site, key);
          return true;
        },
        site);
  }

  bool contains(const K& key, source_location site = source_location::current()) const {
    return atomically([&] { return list_.find(key, site) != nullptr; }, site);
  }

  std::size_t erase(const K& key, source_location site = source_location::current()) {
    return atomically([&] { return list_.erase(key, site); }, site);
  }

  std::size_t size(source_location site = source_location::current()) const {
    return atomically([&] { return list_.size(site); }, site);
  }
  bool empty(source_location site = source_location::current()) const {
    return atomically([&] { return list_.empty(site); }, site);
  }
  void clear(source_location site = source_location::current()) {
    atomically([&] { list_.clear(site); }, site);
  }

  std::optional<K> first(source_location site = source_location::current()) const {
    return atomically([&] { return key_of(list_.first(site)); }, site);
  }
  std::optional<K> last(source_location site = source_location::current()) const {
    return atomically([&] { return key_of(list_.last(site)); }, site);
  }
  std::optional<K> lower_bound(const K& key,
                               source_location site = source_location::current()) const {
    return atomically([&] { return key_of(list_.lower_bound(key, site)); }, site);
  }
  std::optional<K> upper_bound(const K& key,
                               source_location site = source_location::current()) const {
    return atomically([&] { return key_of(list_.upper_bound(key, site)); }, site);
  }
  std::optional<K> floor(const K& key, source_location site = source_location::current()) const {
    return atomically([&] { return key_of(list_.floor(key, site)); }, site);
  }

  std::optional<K> pop_first(source_location site = source_location::current()) {
    return atomically([&] { return key_of(list_.pop_first(site)); }, site);
  }
  std::optional<K> pop_last(source_location site = source_location::current()) {
    return atomically([&] { return key_of(list_.pop_last(site)); }, site);
  }

  std::size_t erase_range(const K& lo, const K& hi,
                          source_location site = source_location::current()) {
    return atomically([&] { return list_.erase_range(lo, hi, site); }, site);
  }
  std::vector<K> range(const K& lo, const K& hi,
                       source_location site = source_location::current()) const {
    return atomically(
        [&] {
          std::vector<K> keys;
          list_.for_each_node_in(
              lo, hi, [&](const node& n) { keys.push_back(n.key); }, site);
          return keys;
        },
        site);
  }

  template <class F>
  void for_each(F&& f, source_location site = source_location::current()) const {
    static_assert(std::is_invocable_v<F&, const K&>,
                  "optimist::tsorted_set::for_each(f): f must take a const K&");
    static_assert(
        detail::containers::walk_result_ok<F, const K&>(),
        "optimist::tsorted_set::for_each(f): f must return void, or bool (false ends the walk)");
    atomically(
        [&] { list_.for_each_node([&](const node& n) { return std::invoke(f, n.key); }, site); },
        site);
  }

  template <class F>
  void for_each_in(const K& lo, const K& hi, F&& f,
                   source_location site = source_location::current()) const {
    static_assert(std::is_invocable_v<F&, const K&>,
                  "optimist::tsorted_set::for_each_in(lo, hi, f): f must take a const K&");
    static_assert(detail::containers::walk_result_ok<F, const K&>(),
                  "optimist::tsorted_set::for_each_in(lo, hi, f): f must return void, or bool "
                  "(false ends the walk)");
    atomically(
        [&] {
          list_.for_each_node_in(
              lo, hi, [&](const node& n) { return std::invoke(f, n.key); }, site);
        },
        site);
  }

  std::vector<K> snapshot(source_location site = source_location::current()) const {
    return atomically(
        [&] {
          std::vector<K> keys;
          list_.for_each_node([&](const node& n) { keys.push_back(n.key); }, site);
          return keys;
        },
        site);
  }

 private:
  static std::optional<K> key_of(const node* n) {
    if (n == nullptr) return std::nullopt;
    return n->key;
  }

  list_type list_;
};

}  // namespace optimist
