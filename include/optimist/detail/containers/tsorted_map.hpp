// optimist/detail/containers/tsorted_map.hpp — optimist::tsorted_map<K, V>. Documented in
// <optimist/containers.hpp>; include that header, not this one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/detail/containers/element_reference.hpp"
#include "optimist/detail/containers/skip_list.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

template <class K, class V, class Compare = std::less<K>>
class tsorted_map {
  static_assert(std::is_trivially_copyable_v<V>,
                "optimist::tsorted_map<K, V>: V must be trivially copyable — values live in "
                "tvars, which the STM copies word by word. Store a pointer (optimist::tx_new) or "
                "an index instead. (K may be any copyable type: keys are never written after "
                "insertion.)");
  static_assert(std::is_copy_constructible_v<K>, "optimist::tsorted_map<K, V>: K must be copyable");
  static_assert(!std::is_reference_v<K> && !std::is_reference_v<V>,
                "optimist::tsorted_map<K, V>: K and V must be object types");
  static_assert(std::is_invocable_r_v<bool, const Compare&, const K&, const K&>,
                "optimist::tsorted_map<K, V, Compare>: Compare must order two const K&");

  using list_type = detail::containers::skip_list<K, V, Compare>;
  using node = typename list_type::node;

 public:
  using key_type = K;
  using mapped_type = V;
  using key_compare = Compare;
  using size_type = std::size_t;
  using entry = std::pair<K, V>;
  // What operator[] returns; see <optimist/containers.hpp>.
  using reference = detail::containers::map_reference<tsorted_map, K, V>;

  explicit tsorted_map(const Compare& less = Compare()) : list_(less) {}
  tsorted_map(std::initializer_list<entry> items, const Compare& less = Compare())
      : tsorted_map(less) {
    for (const entry& item : items) insert(item);  // as std::map: the first one wins
  }
  tsorted_map(const tsorted_map&) = delete;
  tsorted_map& operator=(const tsorted_map&) = delete;

  bool insert(const entry& item, source_location site = source_location::current()) {
    return atomically(
        [&]() -> bool {
          const auto where = list_.locate(item.first, site);
          if (where.found != nullptr) return false;
          list_.link_new(where, site, item.first, item.second);
          return true;
        },
        site);
  }

  bool insert_or_assign(const K& key, const V& value,
                        source_location site = source_location::current()) {
    return atomically(
        [&]() -> bool {
          const auto where = list_.locate(key, site);
          if (where.found != nullptr) {
            where.found->value.set(value, site);
            return false;
          }
          list_.link_new(where, site, key, value);
          return true;
        },
        site);
  }

  std::optional<V> find(const K& key, source_location site = source_location::current()) const {
    return atomically(
        [&]() -> std::optional<V> {
          const node* n = list_.find(key, site);
          if (n == nullptr) return std::nullopt;
          return n->value.get(site);
        },
        site);
  }

  bool contains(const K& key, source_location site = source_location::current()) const {
    return atomically([&] { return list_.find(key, site) != nullptr; }, site);
  }

  std::size_t erase(const K& key, source_location site = source_location::current()) {
    return atomically([&] { return list_.erase(key, site); }, site);
  }

  template <class F>
  V update(const K& key, F&& f, source_location site = source_location::current()) {
    static_assert(std::is_invocable_r_v<V, F&, const V&>,
                  "optimist::tsorted_map::update(key, f): f must take a const V& and return a V");
    return atomically(
        [&]() -> V {
          auto where = list_.locate(key, site);
          const std::uint64_t changes = detail::containers::tls_structure_changes;
          const V now = std::invoke(f, where.found != nullptr ? where.found->value.get(site) : V{});
          // f may have inserted or erased in this map, even this key: find the key again
          // (INVARIANT shape-counted), so that f's changes stay and ours lands.
          if (detail::containers::tls_structure_changes != changes) where = list_.locate(key, site);
          if (where.found != nullptr) {
            where.found->value.set(now, site);
            return now;
          }
          list_.link_new(where, site, key, now);
          return now;
        },
        site);
  }

  reference operator[](const K& key) { return reference(*this, key); }

  std::size_t size(source_location site = source_location::current()) const {
    return atomically([&] { return list_.size(site); }, site);
  }
  bool empty(source_location site = source_location::current()) const {
    return atomically([&] { return list_.empty(site); }, site);
  }
  void clear(source_location site = source_location::current()) {
    atomically([&] { list_.clear(site); }, site);
  }

  // The ends, and the neighbours of a key.
  std::optional<entry> first(source_location site = source_location::current()) const {
    return atomically([&] { return entry_of(list_.first(site), site); }, site);
  }
  std::optional<entry> last(source_location site = source_location::current()) const {
    return atomically([&] { return entry_of(list_.last(site), site); }, site);
  }
  std::optional<entry> lower_bound(const K& key,
                                   source_location site = source_location::current()) const {
    return atomically([&] { return entry_of(list_.lower_bound(key, site), site); }, site);
  }
  std::optional<entry> upper_bound(const K& key,
                                   source_location site = source_location::current()) const {
    return atomically([&] { return entry_of(list_.upper_bound(key, site), site); }, site);
  }
  std::optional<entry> floor(const K& key,
                             source_location site = source_location::current()) const {
    return atomically([&] { return entry_of(list_.floor(key, site), site); }, site);
  }

  std::optional<entry> pop_first(source_location site = source_location::current()) {
    return atomically([&] { return entry_of(list_.pop_first(site), site); }, site);
  }
  std::optional<entry> pop_last(source_location site = source_location::current()) {
    return atomically([&] { return entry_of(list_.pop_last(site), site); }, site);
  }

  // [lo, hi): every key k with !(k < lo) and k < hi.
  std::size_t erase_range(const K& lo, const K& hi,
                          source_location site = source_location::current()) {
    return atomically([&] { return list_.erase_range(lo, hi, site); }, site);
  }
  std::vector<entry> range(const K& lo, const K& hi,
                           source_location site = source_location::current()) const {
    return atomically(
        [&] {
          std::vector<entry> items;
          list_.for_each_node_in(
              lo, hi, [&](const node& n) { items.emplace_back(n.key, n.value.get(site)); }, site);
          return items;
        },
        site);
  }

  template <class F>
  void for_each(F&& f, source_location site = source_location::current()) const {
    static_assert(std::is_invocable_v<F&, const K&, const V&>,
                  "optimist::tsorted_map::for_each(f): f must take (const K&, const V&)");
    static_assert(
        detail::containers::walk_result_ok<F, const K&, const V&>(),
        "optimist::tsorted_map::for_each(f): f must return void, or bool (false ends the walk)");
    atomically(
        [&] {
          list_.for_each_node(
              [&](const node& n) { return std::invoke(f, n.key, n.value.get(site)); }, site);
        },
        site);
  }

  template <class F>
  void for_each_in(const K& lo, const K& hi, F&& f,
                   source_location site = source_location::current()) const {
    static_assert(
        std::is_invocable_v<F&, const K&, const V&>,
        "optimist::tsorted_map::for_each_in(lo, hi, f): f must take (const K&, const V&)");
    static_assert(detail::containers::walk_result_ok<F, const K&, const V&>(),
                  "optimist::tsorted_map::for_each_in(lo, hi, f): f must return void, or bool "
                  "(false ends the walk)");
    atomically(
        [&] {
          list_.for_each_node_in(
              lo, hi, [&](const node& n) { return std::invoke(f, n.key, n.value.get(site)); },
              site);
        },
        site);
  }

  std::vector<entry> snapshot(source_location site = source_location::current()) const {
    return atomically(
        [&] {
          std::vector<entry> items;
          list_.for_each_node([&](const node& n) { items.emplace_back(n.key, n.value.get(site)); },
                              site);
          return items;
        },
        site);
  }

 private:
  static std::optional<entry> entry_of(const node* n, source_location site) {
    if (n == nullptr) return std::nullopt;
    return entry(n->key, n->value.get(site));
  }

  list_type list_;
};

}  // namespace optimist
