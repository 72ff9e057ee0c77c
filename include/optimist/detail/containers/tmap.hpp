// optimist/detail/containers/tmap.hpp — optimist::tmap<K, V>. Documented in
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
#include "optimist/detail/containers/hash_table.hpp"
#include "optimist/memory.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

template <class K, class V, class Hash = std::hash<K>, class KeyEqual = std::equal_to<K>>
class tmap {
  static_assert(std::is_trivially_copyable_v<V>,
                "optimist::tmap<K, V>: V must be trivially copyable — values live in tvars, which "
                "the STM copies word by word. Store a pointer (optimist::tx_new) or an index "
                "instead. (K may be any copyable type: keys are never written after insertion.)");
  static_assert(std::is_copy_constructible_v<K>, "optimist::tmap<K, V>: K must be copyable");
  static_assert(!std::is_reference_v<K> && !std::is_reference_v<V>,
                "optimist::tmap<K, V>: K and V must be object types");

  using table_type = detail::containers::hash_table<K, V, Hash, KeyEqual>;
  using node = typename table_type::node;

 public:
  using key_type = K;
  using mapped_type = V;
  using size_type = std::size_t;
  // What operator[] returns; see <optimist/containers.hpp>.
  using reference = detail::containers::map_reference<tmap, K, V>;

  explicit tmap(std::size_t bucket_count = detail::containers::default_bucket_count,
                const Hash& hash = Hash(), const KeyEqual& equal = KeyEqual())
      : table_(bucket_count, hash, equal) {}
  tmap(std::initializer_list<std::pair<K, V>> items) : tmap(items.size()) {
    for (const auto& item : items) insert(item);  // as std::unordered_map: the first one wins
  }
  tmap(const tmap&) = delete;
  tmap& operator=(const tmap&) = delete;

  bool insert(const std::pair<K, V>& item, source_location site = source_location::current()) {
    return atomically(
        [&]() -> bool {
          const std::uint64_t hash = table_.hash_of(item.first);
          const auto where = table_.locate(item.first, hash, site);
          if (where.found != nullptr) return false;
          table_.link(where, tx_new<node>(hash, item.first, item.second), site);
          return true;
        },
        site);
  }

  bool insert_or_assign(const K& key, const V& value,
                        source_location site = source_location::current()) {
    return atomically(
        [&]() -> bool {
          const std::uint64_t hash = table_.hash_of(key);
          const auto where = table_.locate(key, hash, site);
          if (where.found != nullptr) {
            where.found->value.set(value, site);
            return false;
          }
          table_.link(where, tx_new<node>(hash, key, value), site);
          return true;
        },
        site);
  }

  std::optional<V> find(const K& key, source_location site = source_location::current()) const {
    return atomically(
        [&]() -> std::optional<V> {
          const node* n = table_.find(key, site);
          if (n == nullptr) return std::nullopt;
          return n->value.get(site);
        },
        site);
  }

  bool contains(const K& key, source_location site = source_location::current()) const {
    return atomically([&] { return table_.find(key, site) != nullptr; }, site);
  }

  std::size_t erase(const K& key, source_location site = source_location::current()) {
    return atomically([&] { return table_.erase(key, site); }, site);
  }

  template <class F>
  V update(const K& key, F&& f, source_location site = source_location::current()) {
    static_assert(std::is_invocable_r_v<V, F&, const V&>,
                  "optimist::tmap::update(key, f): f must take a const V& and return a V");
    return atomically(
        [&]() -> V {
          const std::uint64_t hash = table_.hash_of(key);
          auto where = table_.locate(key, hash, site);
          const std::uint64_t changes = detail::containers::tls_structure_changes;
          const V now = std::invoke(f, where.found != nullptr ? where.found->value.get(site) : V{});
          // f may have inserted or erased in this map, even this key, or grown its table: find
          // the key again (INVARIANT shape-counted), so that f's changes stay and ours lands.
          if (detail::containers::tls_structure_changes != changes)
            where = table_.locate(key, hash, site);
          if (where.found != nullptr) {
            where.found->value.set(now, site);
            return now;
          }
          table_.link(where, tx_new<node>(hash, key, now), site);
          return now;
        },
        site);
  }

  reference operator[](const K& key) { return reference(*this, key); }

  std::size_t size(source_location site = source_location::current()) const {
    return atomically([&] { return table_.size(site); }, site);
  }
  bool empty(source_location site = source_location::current()) const {
    return atomically([&] { return table_.empty(site); }, site);
  }
  void clear(source_location site = source_location::current()) {
    atomically([&] { table_.clear(site); }, site);
  }
  std::size_t bucket_count(source_location site = source_location::current()) const {
    return atomically([&] { return table_.bucket_count(site); }, site);
  }

  template <class F>
  void for_each(F&& f, source_location site = source_location::current()) const {
    static_assert(std::is_invocable_v<F&, const K&, const V&>,
                  "optimist::tmap::for_each(f): f must take (const K&, const V&)");
    atomically(
        [&] {
          table_.for_each_node([&](const node& n) { std::invoke(f, n.key, n.value.get(site)); },
                               "tmap::for_each", site);
        },
        site);
  }

  std::vector<std::pair<K, V>> snapshot(source_location site = source_location::current()) const {
    return atomically(
        [&] {
          std::vector<std::pair<K, V>> items;
          table_.for_each_node([&](const node& n) { items.emplace_back(n.key, n.value.get(site)); },
                               "tmap::snapshot", site);
          return items;
        },
        site);
  }

 private:
  table_type table_;
};

}  // namespace optimist
