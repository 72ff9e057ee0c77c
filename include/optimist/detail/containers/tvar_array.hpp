// optimist/detail/containers/tvar_array.hpp — a fixed-size array of tvars built from values.
//
// Not for users. The containers publish a freshly built array (new buckets, a
// larger vector) by writing one pointer: until that write commits, no other
// thread can reach the array, so its initial values are given to the tvar
// constructors directly instead of going through the redo log one by one.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

#include "optimist/tvar.hpp"

namespace optimist::detail::containers {

template <class T>
class tvar_array {
  static_assert(std::is_trivially_destructible_v<tvar<T>>,
                "tvar_array relies on tvars needing no destructor (a half-built array is freed "
                "without destroying its elements)");

 public:
  // tvar_array(count, initial)
  //   Element i starts as initial(i). `initial` may read transactional memory
  //   (and so throw restart_signal); a half-built array is freed.
  template <class Initial>
  tvar_array(std::size_t count, Initial&& initial) : count_(count), items_(allocate(count)) {
    for (std::size_t i = 0; i < count; ++i) {
      ::new (static_cast<void*>(items_.get() + i)) tvar<T>(initial(i));
    }
  }
  tvar_array(const tvar_array&) = delete;
  tvar_array& operator=(const tvar_array&) = delete;

  std::size_t size() const noexcept { return count_; }
  tvar<T>& operator[](std::size_t i) const noexcept { return items_.get()[i]; }

 private:
  struct release {
    void operator()(tvar<T>* p) const noexcept {
      ::operator delete (static_cast<void*>(p), std::align_val_t{alignof(tvar<T>)});
    }
  };
  static std::unique_ptr<tvar<T>, release> allocate(std::size_t count) {
    if (count > static_cast<std::size_t>(-1) / sizeof(tvar<T>)) throw std::bad_array_new_length();
    void* raw = ::operator new (count * sizeof(tvar<T>), std::align_val_t{alignof(tvar<T>)});
    return std::unique_ptr<tvar<T>, release>(static_cast<tvar<T>*>(raw));
  }

  const std::size_t count_;
  const std::unique_ptr<tvar<T>, release> items_;
};

}  // namespace optimist::detail::containers
