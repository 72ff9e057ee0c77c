// bench/intset/sorted_list.hpp — a sorted singly linked list of keys, written once for every
// synchronisation model.
//
// bench::sorted_list<Access> is an integer set: contains / insert / erase walk from the head
// until they reach the first key not smaller than the one asked for. Every shared field is read
// with Access::load and written with Access::store; nodes are made with Access::make and freed
// with Access::destroy (the models are in bench/common/access.hpp). The caller wraps each
// operation in Access::atomic.
//
//   bench::sorted_list<Access> set;
//   bool added = Access::atomic([&] { return set.insert(42); });
//
// The list is the structure where a transaction reads the most: every operation reads about half
// of the list, so any update in that prefix conflicts with it. The head is a sentinel node (never
// removed), so an insert or erase at the front writes a node's link, not a shared head variable.
//
// validate() and for_each() read plain memory: call them only while no other thread uses the
// list.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

namespace bench {

template <class Access>
class sorted_list {
 public:
  using key_type = long;

  sorted_list() = default;
  sorted_list(const sorted_list&) = delete;
  sorted_list& operator=(const sorted_list&) = delete;
  ~sorted_list() { clear(); }

  bool contains(key_type key) const {
    const node* cur = Access::load(head_.next);
    while (cur != nullptr) {
      const key_type cur_key = Access::load(cur->key);
      if (cur_key >= key) return cur_key == key;
      cur = Access::load(cur->next);
    }
    return false;
  }

  // insert(key)
  //   Adds the key and returns true, or returns false if it is present.
  bool insert(key_type key) {
    node* prev = &head_;
    node* cur = Access::load(prev->next);
    while (cur != nullptr) {
      const key_type cur_key = Access::load(cur->key);
      if (cur_key == key) return false;
      if (cur_key > key) break;
      prev = cur;
      cur = Access::load(cur->next);
    }
    node* fresh = Access::template make<node>(key, cur);
    Access::template store<node*>(prev->next, fresh);
    return true;
  }

  // erase(key)
  //   Removes the key and returns true, or returns false if it is absent.
  bool erase(key_type key) {
    node* prev = &head_;
    node* cur = Access::load(prev->next);
    while (cur != nullptr) {
      const key_type cur_key = Access::load(cur->key);
      if (cur_key == key) {
        Access::template store<node*>(prev->next, Access::load(cur->next));
        Access::destroy(cur);
        return true;
      }
      if (cur_key > key) return false;
      prev = cur;
      cur = Access::load(cur->next);
    }
    return false;
  }

  // ---- only while no other thread uses the list ------------------------------------------------

  template <class F>
  void for_each(F&& f) const {
    for (const node* n = head_.next; n != nullptr; n = n->next) f(n->key);
  }

  // validate()
  //   Empty if the keys are strictly increasing, otherwise what is wrong.
  std::string validate() const {
    std::size_t index = 0;
    for (const node* n = head_.next; n != nullptr && n->next != nullptr; n = n->next, ++index) {
      if (!(n->key < n->next->key)) return "keys out of order at position " + std::to_string(index);
    }
    return {};
  }

  std::size_t size() const {
    std::size_t n = 0;
    for_each([&n](key_type) { ++n; });
    return n;
  }

  // clear()
  //   Hands every node to Access::destroy and empties the list.
  void clear() {
    node* n = head_.next;
    head_.next = nullptr;
    while (n != nullptr) {
      node* next = n->next;
      Access::destroy(n);
      n = next;
    }
  }

 private:
  struct node {
    node() = default;
    node(key_type k, node* n) : key(k), next(n) {}
    key_type key = 0;
    node* next = nullptr;
  };

  node head_;  // sentinel: its key is never read
};

}  // namespace bench
