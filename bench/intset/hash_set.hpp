// bench/intset/hash_set.hpp — a fixed-size chained hash set of keys, written once for every
// synchronisation model.
//
// bench::hash_set<Access> is an integer set: a key hashes to one of a fixed number of buckets,
// each a short sorted chain of nodes. With as many buckets as expected keys an operation reads
// one or two nodes, so transactions rarely share anything: this is the structure where every
// model should scale. Every shared field is read with Access::load and written with
// Access::store; nodes are made with Access::make and freed with Access::destroy (the models are
// in bench/common/access.hpp). The caller wraps each operation in Access::atomic.
//
//   bench::hash_set<Access> set(16384);
//   bool added = Access::atomic([&] { return set.insert(42); });
//
// The table never grows: resizing would make every operation conflict with the resize, and the
// benchmark keeps the number of keys constant anyway.
//
// validate() and for_each() read plain memory: call them only while no other thread uses the
// set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace bench {

template <class Access>
class hash_set {
 public:
  using key_type = long;

  // hash_set(bucket_count)
  //   bucket_count is rounded up to a power of two.
  explicit hash_set(std::size_t bucket_count) {
    std::size_t n = 1;
    while (n < bucket_count) n *= 2;
    buckets_.assign(n, nullptr);
    mask_ = n - 1;
  }
  hash_set(const hash_set&) = delete;
  hash_set& operator=(const hash_set&) = delete;
  ~hash_set() { clear(); }

  bool contains(key_type key) const {
    for (const node* cur = Access::load(bucket(key)); cur != nullptr;
         cur = Access::load(cur->next)) {
      const key_type cur_key = Access::load(cur->key);
      if (cur_key >= key) return cur_key == key;
    }
    return false;
  }

  // insert(key)
  //   Adds the key and returns true, or returns false if it is present.
  bool insert(key_type key) {
    node** link = &bucket(key);
    node* cur = Access::load(*link);
    while (cur != nullptr) {
      const key_type cur_key = Access::load(cur->key);
      if (cur_key == key) return false;
      if (cur_key > key) break;
      link = &cur->next;
      cur = Access::load(*link);
    }
    Access::template store<node*>(*link, Access::template make<node>(key, cur));
    return true;
  }

  // erase(key)
  //   Removes the key and returns true, or returns false if it is absent.
  bool erase(key_type key) {
    node** link = &bucket(key);
    for (node* cur = Access::load(*link); cur != nullptr; cur = Access::load(*link)) {
      const key_type cur_key = Access::load(cur->key);
      if (cur_key > key) return false;
      if (cur_key == key) {
        Access::template store<node*>(*link, Access::load(cur->next));
        Access::destroy(cur);
        return true;
      }
      link = &cur->next;
    }
    return false;
  }

  // ---- only while no other thread uses the set -------------------------------------------------

  template <class F>
  void for_each(F&& f) const {
    for (const node* head : buckets_)
      for (const node* n = head; n != nullptr; n = n->next) f(n->key);
  }

  // validate()
  //   Empty if every key sits in its own bucket and every chain is strictly increasing,
  //   otherwise what is wrong.
  std::string validate() const {
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      for (const node* n = buckets_[b]; n != nullptr; n = n->next) {
        if (index_of(n->key) != b) return "key " + std::to_string(n->key) + " in a wrong bucket";
        if (n->next != nullptr && !(n->key < n->next->key))
          return "chain of bucket " + std::to_string(b) + " out of order";
      }
    }
    return {};
  }

  std::size_t size() const {
    std::size_t n = 0;
    for_each([&n](key_type) { ++n; });
    return n;
  }

  // clear()
  //   Hands every node to Access::destroy and empties the set.
  void clear() {
    for (node*& head : buckets_) {
      node* n = head;
      head = nullptr;
      while (n != nullptr) {
        node* next = n->next;
        Access::destroy(n);
        n = next;
      }
    }
  }

 private:
  struct node {
    node(key_type k, node* n) : key(k), next(n) {}
    key_type key;
    node* next;
  };

  // Fibonacci hashing: keys that differ only in their high bits still spread over the buckets.
  std::size_t index_of(key_type key) const {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(key) * 0x9E3779B97F4A7C15ull) >>
                                    32) &
           mask_;
  }
  node*& bucket(key_type key) { return buckets_[index_of(key)]; }
  node* const& bucket(key_type key) const { return buckets_[index_of(key)]; }

  std::vector<node*> buckets_;
  std::size_t mask_ = 0;
};

}  // namespace bench
