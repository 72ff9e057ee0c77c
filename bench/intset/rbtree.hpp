// bench/intset/rbtree.hpp — a red-black tree map written once for every synchronisation model.
//
// bench::rbtree<Key, Value, Access> maps keys to values (both trivially copyable, at most 8
// bytes); the integer-set benchmark uses it as a set and the vacation benchmark as its tables.
// Every shared field is read with Access::load and written with Access::store, nodes are made
// with Access::make and freed with Access::destroy, so the same code runs uninstrumented, under
// a lock, under GCC TM or under optimist (the models are in bench/common/access.hpp). The caller
// wraps each operation in Access::atomic; the tree itself takes no lock.
//
//   bench::rbtree<long, item*, Access> flights;
//   Access::atomic([&] { flights.insert(id, item); });
//
// Leaves are null pointers rather than a shared sentinel node: the textbook sentinel has its
// parent field written by every erase, which would make all erases conflict with each other.
// For the same reason nothing is stored when it already holds the value (recolouring the root
// black on every insert would be a write every transaction shares).
//
// Node positions change by relinking (an erased node with two children is replaced by its
// successor node, not by copying the successor's key and value), so a key never changes once
// the node is published.
//
// validate() and for_each() read plain memory: call them only while no other thread uses the
// tree (the benchmarks call them after a run).
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

namespace bench {

template <class Key, class Value, class Access>
class rbtree {
  static_assert(std::is_trivially_copyable_v<Key> && sizeof(Key) <= 8);
  static_assert(std::is_trivially_copyable_v<Value> && sizeof(Value) <= 8);

 public:
  rbtree() = default;
  rbtree(const rbtree&) = delete;
  rbtree& operator=(const rbtree&) = delete;
  ~rbtree() { clear(); }

  // find(key, value_out)
  //   True if `key` is present; then its value is written to *value_out (when not null).
  bool find(const Key& key, Value* value_out = nullptr) const {
    node* n = lookup(key);
    if (n == nullptr) return false;
    if (value_out != nullptr) *value_out = get(n->value);
    return true;
  }

  bool contains(const Key& key) const { return lookup(key) != nullptr; }

  // insert(key, value)
  //   Adds the pair and returns true, or returns false (and changes nothing) if the key is
  //   present.
  bool insert(const Key& key, const Value& value) {
    node* parent = nullptr;
    bool left_child = false;
    for (node* cur = get(root_); cur != nullptr;) {
      const Key cur_key = get(cur->key);
      if (key < cur_key) {
        parent = cur;
        left_child = true;
        cur = get(cur->left);
      } else if (cur_key < key) {
        parent = cur;
        left_child = false;
        cur = get(cur->right);
      } else {
        return false;
      }
    }
    node* n = Access::template make<node>(key, value, parent);
    if (parent == nullptr) {
      set(root_, n);
    } else if (left_child) {
      set(parent->left, n);
    } else {
      set(parent->right, n);
    }
    repair_after_insert(n);
    return true;
  }

  // assign(key, value)
  //   Replaces the value of a present key and returns true; false if the key is absent.
  bool assign(const Key& key, const Value& value) {
    node* n = lookup(key);
    if (n == nullptr) return false;
    set(n->value, value);
    return true;
  }

  // erase(key)
  //   Removes the key and returns true, or returns false if it is absent. The node is handed to
  //   Access::destroy, which defers the deletion until no reader can still hold it.
  bool erase(const Key& key) {
    node* z = lookup(key);
    if (z == nullptr) return false;
    node* x;         // the node that moves into the removed position (may be null)
    node* x_parent;  // its parent after the move: x may be null, so it is tracked separately
    color removed_color = get(z->colour);
    node* z_left = get(z->left);
    node* z_right = get(z->right);
    if (z_left == nullptr) {
      x = z_right;
      x_parent = get(z->parent);
      transplant(z, z_right);
    } else if (z_right == nullptr) {
      x = z_left;
      x_parent = get(z->parent);
      transplant(z, z_left);
    } else {
      // Two children: the successor y (leftmost of the right subtree) takes z's place.
      node* y = z_right;
      for (node* l = get(y->left); l != nullptr; l = get(y->left)) y = l;
      removed_color = get(y->colour);
      x = get(y->right);
      if (y == z_right) {
        x_parent = y;
      } else {
        x_parent = get(y->parent);
        transplant(y, x);
        set(y->right, z_right);
        set(z_right->parent, y);
      }
      transplant(z, y);
      set(y->left, z_left);
      set(z_left->parent, y);
      set_colour(y, get(z->colour));
    }
    if (removed_color == color::black) repair_after_erase(x, x_parent);
    Access::destroy(z);
    return true;
  }

  // ---- only while no other thread uses the tree ------------------------------------------------

  // for_each(f)
  //   Calls f(key, value) in key order.
  template <class F>
  void for_each(F&& f) const {
    visit(root_, f);
  }

  // validate()
  //   Empty if the tree is a valid red-black tree (keys ordered, parent links consistent, black
  //   root, no red node with a red child, the same number of black nodes on every path);
  //   otherwise what is wrong.
  std::string validate() const {
    std::string problem;
    if (root_ != nullptr) {
      if (root_->parent != nullptr) problem = "root has a parent";
      if (root_->colour != color::black) problem = "root is red";
    }
    std::size_t count = 0;
    if (problem.empty()) check_subtree(root_, nullptr, nullptr, nullptr, count, problem);
    return problem;
  }

  // size()
  //   Counts the nodes (a full walk).
  std::size_t size() const {
    std::size_t n = 0;
    for_each([&n](const Key&, const Value&) { ++n; });
    return n;
  }

  // clear()
  //   Hands every node to Access::destroy and empties the tree.
  void clear() {
    destroy_subtree(root_);
    root_ = nullptr;
  }

 private:
  // An enum over long so that the colour is a whole aligned word: optimist's word path, no
  // partial-word masking.
  enum class color : long { red, black };

  struct node {
    node(const Key& k, const Value& v, node* p) : key(k), value(v), parent(p) {}
    Key key;
    Value value;
    node* left = nullptr;
    node* right = nullptr;
    node* parent;
    color colour = color::red;
  };

  template <class T>
  static T get(const T& field) {
    return Access::load(field);
  }
  template <class T>
  static void set(T& field, std::type_identity_t<T> value) {
    Access::template store<T>(field, value);
  }

  static bool is_red(node* n) { return n != nullptr && get(n->colour) == color::red; }
  static bool is_black(node* n) { return !is_red(n); }
  // For a node known not to be null. Besides saving a test, this keeps GCC from seeing a path on
  // which the node is null and then dereferenced: it would isolate that path with a trap, which
  // its TM instrumentation (-fgnu-tm, gnutm variants) cannot handle (internal compiler error in
  // expand_call_tm, GCC 12).
  static bool is_red_node(node* n) { return get(n->colour) == color::red; }
  static void set_colour(node* n, color c) {
    if (get(n->colour) != c) set(n->colour, c);
  }

  node* lookup(const Key& key) const {
    node* cur = get(root_);
    while (cur != nullptr) {
      const Key cur_key = get(cur->key);
      if (key < cur_key) {
        cur = get(cur->left);
      } else if (cur_key < key) {
        cur = get(cur->right);
      } else {
        return cur;
      }
    }
    return nullptr;
  }

  // Puts v where u hangs (under u's parent or at the root); u's own links are left as they are.
  void transplant(node* u, node* v) {
    node* up = get(u->parent);
    if (up == nullptr) {
      set(root_, v);
    } else if (get(up->left) == u) {
      set(up->left, v);
    } else {
      set(up->right, v);
    }
    if (v != nullptr) set(v->parent, up);
  }

  // x's right child r takes x's place; x becomes r's left child.
  void rotate_left(node* x) {
    node* r = get(x->right);
    node* middle = get(r->left);
    set(x->right, middle);
    if (middle != nullptr) set(middle->parent, x);
    transplant(x, r);
    set(r->left, x);
    set(x->parent, r);
  }

  // x's left child l takes x's place; x becomes l's right child.
  void rotate_right(node* x) {
    node* l = get(x->left);
    node* middle = get(l->right);
    set(x->left, middle);
    if (middle != nullptr) set(middle->parent, x);
    transplant(x, l);
    set(l->right, x);
    set(x->parent, l);
  }

  // n is a new red leaf; restores "no red node has a red parent" and a black root.
  void repair_after_insert(node* n) {
    for (node* p = get(n->parent); p != nullptr && is_red(p); p = get(n->parent)) {
      node* g = get(p->parent);  // p is red, so it is not the root: g exists
      const bool p_is_left = get(g->left) == p;
      node* uncle = p_is_left ? get(g->right) : get(g->left);
      if (is_red(uncle)) {
        // Push the red up: p and the uncle turn black, g red, and g is checked next.
        set_colour(p, color::black);
        set_colour(uncle, color::black);
        set_colour(g, color::red);
        n = g;
        continue;
      }
      if (p_is_left) {
        if (get(p->right) == n) {  // inner grandchild: rotate it to the outside first
          rotate_left(p);
          p = n;
        }
        set_colour(p, color::black);
        set_colour(g, color::red);
        rotate_right(g);
      } else {
        if (get(p->left) == n) {
          rotate_right(p);
          p = n;
        }
        set_colour(p, color::black);
        set_colour(g, color::red);
        rotate_left(g);
      }
      break;  // p is black now and sits where g was: nothing above changed colour
    }
    set_colour(get(root_), color::black);
  }

  // A black node was removed above x (x may be null): the paths through x lack one black node.
  void repair_after_erase(node* x, node* x_parent) {
    while (x_parent != nullptr && is_black(x)) {
      // A null x is the left child exactly when x_parent's left is null: x's sibling carries at
      // least one black node, so it cannot be null.
      if (get(x_parent->left) == x) {
        node* w = get(x_parent->right);
        if (is_red_node(w)) {  // the sibling of a doubly black position is never null
          set_colour(w, color::black);
          set_colour(x_parent, color::red);
          rotate_left(x_parent);
          w = get(x_parent->right);
        }
        node* w_left = get(w->left);
        node* w_right = get(w->right);
        if (is_black(w_left) && is_black(w_right)) {
          set_colour(w, color::red);
          x = x_parent;
          x_parent = get(x->parent);
          continue;
        }
        if (is_black(w_right)) {
          set_colour(w_left, color::black);
          set_colour(w, color::red);
          rotate_right(w);
          w = get(x_parent->right);
          w_right = get(w->right);
        }
        set_colour(w, get(x_parent->colour));
        set_colour(x_parent, color::black);
        set_colour(w_right, color::black);
        rotate_left(x_parent);
      } else {
        node* w = get(x_parent->left);
        if (is_red_node(w)) {  // the sibling of a doubly black position is never null
          set_colour(w, color::black);
          set_colour(x_parent, color::red);
          rotate_right(x_parent);
          w = get(x_parent->left);
        }
        node* w_left = get(w->left);
        node* w_right = get(w->right);
        if (is_black(w_left) && is_black(w_right)) {
          set_colour(w, color::red);
          x = x_parent;
          x_parent = get(x->parent);
          continue;
        }
        if (is_black(w_left)) {
          set_colour(w_right, color::black);
          set_colour(w, color::red);
          rotate_left(w);
          w = get(x_parent->left);
          w_left = get(w->left);
        }
        set_colour(w, get(x_parent->colour));
        set_colour(x_parent, color::black);
        set_colour(w_left, color::black);
        rotate_right(x_parent);
      }
      return;  // the rotation added the missing black node: the root is untouched and black
    }
    if (x != nullptr) set_colour(x, color::black);
  }

  template <class F>
  static void visit(node* n, F& f) {
    while (n != nullptr) {
      visit(n->left, f);
      f(static_cast<const Key&>(n->key), static_cast<const Value&>(n->value));
      n = n->right;
    }
  }

  // Returns the black height of n's subtree (null leaves count 0) and records the first problem.
  static std::size_t check_subtree(node* n, node* parent, const Key* low, const Key* high,
                                   std::size_t& count, std::string& problem) {
    if (n == nullptr || !problem.empty()) return 0;
    ++count;
    const std::string where = "node " + std::to_string(count) + ": ";
    if (n->parent != parent) problem = where + "parent link is wrong";
    if ((low != nullptr && !(*low < n->key)) || (high != nullptr && !(n->key < *high)))
      problem = where + "keys out of order";
    if (n->colour == color::red && (is_red_plain(n->left) || is_red_plain(n->right)))
      problem = where + "red node with a red child";
    if (!problem.empty()) return 0;
    const std::size_t left = check_subtree(n->left, n, low, &n->key, count, problem);
    const std::size_t right = check_subtree(n->right, n, &n->key, high, count, problem);
    if (problem.empty() && left != right) problem = where + "black heights differ";
    return left + (n->colour == color::black ? 1 : 0);
  }

  static bool is_red_plain(node* n) { return n != nullptr && n->colour == color::red; }

  static void destroy_subtree(node* n) {
    while (n != nullptr) {
      destroy_subtree(n->left);
      node* right = n->right;
      Access::destroy(n);
      n = right;
    }
  }

  node* root_ = nullptr;
};

}  // namespace bench
