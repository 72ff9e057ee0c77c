// optimist/detail/durable_map.hpp — optimist::durable::map. Documented in
// <optimist/durable_map.hpp>; include that header, not this one.
//
// Layout (all of it heap words, read and written only through the STM):
//   map:   heads_[Buckets]  tvar<ptr<node>>, the chains' first nodes
//          counts_[16]      tvar<int64_t>, element counts striped by bucket
//   node:  key, value, next — tvars, so that readers in other transactions
//          are validated even when a node is freed and its block reused.
//
// INVARIANT (chains): every node is reachable from exactly one head, the one
// of its key's bucket; no two nodes of a chain hold equal keys; the sum of
// counts_ is the number of nodes. Each operation keeps it within one
// (nested) transaction, so it holds in every committed state, and therefore
// in every state recovery can restore.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "optimist/atomically.hpp"
#include "optimist/durable.hpp"
#include "optimist/source_location.hpp"
#include "optimist/tvar.hpp"

namespace optimist::durable {

// stable_hash<K>
//   FNV-1a over the key's bytes, then a 64-bit mixer: the same value in every
//   process, so chains built by one process are found by the next.
template <class K>
struct stable_hash {
  static_assert(std::has_unique_object_representations_v<K>,
                "optimist::durable::stable_hash<K>: K has padding bytes or floating-point "
                "members, so equal keys may differ in their bytes; pass a Hash to "
                "durable::map that hashes the key's fields (the same in every process)");
  std::uint64_t operator()(const K& key) const noexcept {
    unsigned char bytes[sizeof(K)];
    std::memcpy(bytes, &key, sizeof(K));
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char b : bytes) h = (h ^ b) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
  }
};

namespace detail {
template <class K>
bool keys_equal(const K& a, const K& b) {
  if constexpr (std::equality_comparable<K>) {
    return a == b;
  } else {
    static_assert(std::has_unique_object_representations_v<K>,
                  "optimist::durable::map<K, V>: K has no operator== and has padding or "
                  "floating-point members, so it cannot be compared byte-wise; give K an "
                  "operator==");
    return std::memcmp(&a, &b, sizeof(K)) == 0;
  }
}
}  // namespace detail

template <class K, class V, std::size_t Buckets = 1024, class Hash = stable_hash<K>>
class map {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>,
                "optimist::durable::map<K, V>: K and V must be trivially copyable (they are "
                "stored in the heap's words; use durable::ptr to refer to other heap objects)");
  static_assert(alignof(K) <= 16 && alignof(V) <= 16,
                "optimist::durable::map<K, V>: heap objects are aligned to 16 bytes at most");
  static_assert(Buckets > 0, "optimist::durable::map: Buckets must be at least 1");
  static_assert(std::is_empty_v<Hash> && std::is_trivially_default_constructible_v<Hash>,
                "optimist::durable::map: Hash must be stateless (the map holds no hasher: it "
                "lives in the heap of a store)");

  static constexpr std::size_t stripes = 16;

 public:
  using key_type = K;
  using mapped_type = V;

  struct node {
    node(const K& k, const V& v, ptr<node> n) : key(k), value(v), next(n) {}
    tvar<K> key;
    tvar<V> value;
    tvar<ptr<node>> next;
  };

  map() = default;
  map(const map&) = delete;
  map& operator=(const map&) = delete;

  static constexpr std::size_t bucket_count() noexcept { return Buckets; }

  // map::insert_or_assign(store, k, v)
  //   Sets k's value to v; returns true if k was not there (a node is
  //   allocated in the heap), false if an existing value was overwritten.
  bool insert_or_assign(store& s, const K& k, const V& v,
                        source_location site = source_location::current()) {
    check_store(s);
    return optimist::atomically(
        [&] {
          const std::size_t b = bucket_of(k);
          if (node* n = find_node(s, b, k, nullptr, site)) {
            n->value.set(v, site);
            return false;
          }
          ptr<node> created = s.make<node>(k, v, heads_[b].get(site));
          heads_[b].set(created, site);
          add_count(b, +1, site);
          return true;
        },
        site);
  }

  // map::find(store, k)
  //   k's value, or std::nullopt.
  std::optional<V> find(store& s, const K& k,
                        source_location site = source_location::current()) const {
    check_store(s);
    return optimist::atomically(
        [&]() -> std::optional<V> {
          if (node* n = find_node(s, bucket_of(k), k, nullptr, site)) return n->value.get(site);
          return std::nullopt;
        },
        site);
  }

  bool contains(store& s, const K& k, source_location site = source_location::current()) const {
    return find(s, k, site).has_value();
  }

  // map::erase(store, k)
  //   Removes k and frees its node; returns whether k was there.
  bool erase(store& s, const K& k, source_location site = source_location::current()) {
    check_store(s);
    return optimist::atomically(
        [&] {
          const std::size_t b = bucket_of(k);
          tvar<ptr<node>>* link = nullptr;
          node* n = find_node(s, b, k, &link, site);
          if (n == nullptr) return false;
          ptr<node> victim = link->get(site);
          link->set(n->next.get(site), site);
          s.destroy(victim);
          add_count(b, -1, site);
          return true;
        },
        site);
  }

  // map::clear(store)
  //   Erases every element (one transaction over the whole map).
  void clear(store& s, source_location site = source_location::current()) {
    check_store(s);
    optimist::atomically(
        [&] {
          for (std::size_t b = 0; b < Buckets; ++b) {
            ptr<node> p = heads_[b].get(site);
            if (!p) continue;
            while (p) {
              ptr<node> next = s.resolve(p)->next.get(site);
              s.destroy(p);
              p = next;
            }
            heads_[b].set(ptr<node>(), site);
          }
          for (auto& c : counts_) c.set(0, site);
        },
        site);
  }

  // map::size() / map::empty()
  //   Reads all 16 counters: inside a transaction it conflicts with every
  //   concurrent insert and erase (inherent in an exact size).
  std::size_t size(source_location site = source_location::current()) const {
    return optimist::atomically(
        [&] {
          std::int64_t total = 0;
          for (const auto& c : counts_) total += c.get(site);
          return static_cast<std::size_t>(total);
        },
        site);
  }
  bool empty(source_location site = source_location::current()) const { return size(site) == 0; }

  // map::for_each(store, f)
  //   f(const K&, const V&) for every element, bucket by bucket, all in one
  //   transaction (one consistent view).
  template <class F>
  void for_each(store& s, F&& f, source_location site = source_location::current()) const {
    check_store(s);
    optimist::atomically(
        [&] {
          for (std::size_t b = 0; b < Buckets; ++b) {
            for (ptr<node> p = heads_[b].get(site); p;) {
              node* n = s.resolve(p);
              const K key = n->key.get(site);
              const V value = n->value.get(site);
              f(key, value);
              p = n->next.get(site);
            }
          }
        },
        site);
  }

 private:
  static std::size_t bucket_of(const K& k) noexcept {
    return static_cast<std::size_t>(Hash{}(k) % Buckets);
  }

  // The map's words are resolved against the store's heap: a store that does
  // not hold the map would resolve node offsets into unrelated memory.
  void check_store(const store& s) const {
    try {
      (void)s.pointer_to(this);
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument(
          "optimist::durable::map: this map is not in the heap of the store passed (" + s.path() +
          "); pass the store that holds the map (a map must itself live in a store's heap: a "
          "root or an object made with store::make)");
    }
  }

  // The node holding k in bucket b, or nullptr. *link_out (if asked) is the
  // link that points to it: the head or the previous node's next.
  node* find_node(store& s, std::size_t b, const K& k, tvar<ptr<node>>** link_out,
                  source_location site) const {
    auto* link = const_cast<tvar<ptr<node>>*>(&heads_[b]);
    for (ptr<node> p = link->get(site); p; p = link->get(site)) {
      node* n = s.resolve(p);
      if (detail::keys_equal(n->key.get(site), k)) {
        if (link_out != nullptr) *link_out = link;
        return n;
      }
      link = &n->next;
    }
    return nullptr;
  }

  void add_count(std::size_t b, std::int64_t delta, source_location site) {
    tvar<std::int64_t>& c = counts_[b % stripes];
    c.set(c.get(site) + delta, site);
  }

  tvar<ptr<node>> heads_[Buckets];
  tvar<std::int64_t> counts_[stripes];
};

}  // namespace optimist::durable
