// optimist/detail/containers/tset.hpp — optimist::tset<K>. Documented in
// <optimist/containers.hpp>; include that header, not this one.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/detail/containers/hash_table.hpp"
#include "optimist/memory.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

template <class K, class Hash = std::hash<K>, class KeyEqual = std::equal_to<K>>
class tset {
  static_assert(std::is_copy_constructible_v<K> && !std::is_reference_v<K>,
                "optimist::tset<K>: K must be a copyable object type");

  using table_type = detail::containers::hash_table<K, void, Hash, KeyEqual>;
  using node = typename table_type::node;

 public:
  using key_type = K;
  using value_type = K;
  using size_type = std::size_t;

  explicit tset(std::size_t bucket_count = detail::containers::default_bucket_count,
                const Hash& hash = Hash(), const KeyEqual& equal = KeyEqual())
      : table_(bucket_count, hash, equal) {}
  tset(std::initializer_list<K> keys) : tset(keys.size()) {
    for (const K& key : keys) insert(key);
  }
  tset(const tset&) = delete;
  tset& operator=(const tset&) = delete;

  bool insert(const K& key, source_location site = source_location::current()) {
    return atomically(
        [&]() -> bool {
          const std::uint64_t hash = table_.hash_of(key);
          const auto where = table_.locate(key, hash, site);
          if (where.found != nullptr) return false;
          table_.link(where, tx_new<node>(hash, key), site);
          return true;
        },
        site);
  }

  bool contains(const K& key, source_location site = source_location::current()) const {
    return atomically([&] { return table_.find(key, site) != nullptr; }, site);
  }

  std::size_t erase(const K& key, source_location site = source_location::current()) {
    return atomically([&] { return table_.erase(key, site); }, site);
  }

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
    static_assert(std::is_invocable_v<F&, const K&>,
                  "optimist::tset::for_each(f): f must take a const K&");
    atomically(
        [&] {
          table_.for_each_node([&](const node& n) { std::invoke(f, n.key); }, "tset::for_each",
                               site);
        },
        site);
  }

  std::vector<K> snapshot(source_location site = source_location::current()) const {
    return atomically(
        [&] {
          std::vector<K> keys;
          table_.for_each_node([&](const node& n) { keys.push_back(n.key); }, "tset::snapshot",
                               site);
          return keys;
        },
        site);
  }

 private:
  table_type table_;
};

}  // namespace optimist
