// optimist/tvar.hpp — transactional variables.
//
// optimist::tvar<T> holds one value of a trivially copyable T, split into
// 8-byte words; each word is a unit of conflict detection. Read it with get(),
// write it with set(); inside an atomic block the access belongs to the
// transaction, outside it is a transaction of its own.
//
//   optimist::tvar<double> balance{100.0};
//   optimist::atomically([&] { balance.set(balance.get() * 1.05); });
//   double b = balance;          // conversions work too
//   balance = 3.0;
//
// tvar<T>
//   Default-constructible (value-initialised) and explicitly constructible from
//   a T (`tvar<long> v{5}`; explicit so that `v = 5` is an assignment). Not
//   copyable or movable: transactions refer to it by address. A T larger than
//   a word is never read torn: all its words come from one snapshot.
//
// get(site) / set(value, site)
//   `site` (defaulted to the call site) is what conflict reports show. The
//   conversion `T x = v` cannot learn its call site and reports this header;
//   `v = x` does learn it. Use get() in hot spots you want reported precisely.
//
// Large values
//   A T of more than 4 KiB (large_value_bytes) is copied through one heap
//   buffer instead of the stack, so get() and set() use no more stack than the
//   T the caller itself holds, inside or outside a transaction. Each word is
//   still read and logged on its own: a tvar of megabytes is correct but slow.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "optimist/atomically.hpp"
#include "optimist/detail/engine.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

namespace detail {
// A value together with the place that produced it: lets operator= (which
// cannot take a defaulted parameter) still learn its call site, because the
// default argument of this converting constructor is evaluated there.
template <class T>
struct value_at_site {
  value_at_site(const T& v, source_location s = source_location::current()) : value(v), site(s) {}
  T value;
  source_location site;
};
}  // namespace detail

template <class T>
class tvar {
  static_assert(std::is_trivially_copyable_v<T>,
                "optimist::tvar<T> needs a trivially copyable T: the STM copies values word by "
                "word and rolls back by discarding copies. Keep a pointer to the object "
                "(optimist::tx_new) or use a container from <optimist/containers.hpp>.");
  static_assert(!std::is_reference_v<T> && !std::is_const_v<T>,
                "optimist::tvar<T>: T must be a non-const object type");

  static constexpr std::size_t word_count = (sizeof(T) + 7) / 8;

 public:
  // Values larger than this go through a heap buffer, not the stack.
  static constexpr std::size_t large_value_bytes = 4096;

  using value_type = T;

  tvar() noexcept : tvar(T{}) {}
  explicit tvar(const T& initial) noexcept { std::memcpy(words_, &initial, sizeof(T)); }
  tvar(const tvar&) = delete;
  tvar& operator=(const tvar&) = delete;

  // tvar::get()
  //   The value, as seen by the running transaction (its own writes included).
  T get(source_location site = source_location::current()) const {
    if constexpr (word_count == 1) {
      return from_words(detail::read_word(&words_[0], site));
    } else if constexpr (sizeof(T) > large_value_bytes) {
      return get_large(site);
    } else {
      if (!detail::in_transaction()) {
        return atomically([&] { return get(site); }, site);
      }
      std::uint64_t buffer[word_count];
      for (std::size_t i = 0; i < word_count; ++i) buffer[i] = detail::read_word(&words_[i], site);
      return from_words(buffer);
    }
  }

  // tvar::set()
  //   Buffers the new value in the transaction; it becomes visible to others
  //   when the transaction commits.
  void set(const T& value, source_location site = source_location::current()) {
    if constexpr (sizeof(T) > large_value_bytes) {
      set_large(value, site);
    } else if constexpr (word_count == 1) {
      std::uint64_t word = 0;
      std::memcpy(&word, &value, sizeof(T));
      detail::write_word(&words_[0], word, site);
    } else {
      if (!detail::in_transaction()) {
        atomically([&] { set(value, site); }, site);
        return;
      }
      std::uint64_t buffer[word_count] = {};
      std::memcpy(buffer, &value, sizeof(T));
      for (std::size_t i = 0; i < word_count; ++i) detail::write_word(&words_[i], buffer[i], site);
    }
  }

  operator T() const { return get(); }
  tvar& operator=(detail::value_at_site<T> v) {
    set(v.value, v.site);
    return *this;
  }

 private:
  // Large values: the words are read into (written from) one heap buffer, in
  // one transaction of its own outside a block, and the result is built from
  // it in the caller's return slot (std::bit_cast returns a prvalue), so no
  // copy of T lands on this function's stack.
  T get_large(source_location site) const {
    using raw_bytes = std::array<std::byte, sizeof(T)>;
    std::unique_ptr<raw_bytes> raw(new raw_bytes);
    auto read_all = [&] {
      for (std::size_t i = 0; i < word_count; ++i) {
        std::uint64_t word = detail::read_word(&words_[i], site);
        std::size_t bytes = i + 1 < word_count ? 8 : sizeof(T) - 8 * i;
        std::memcpy(raw->data() + 8 * i, &word, bytes);
      }
    };
    if (detail::in_transaction()) {
      read_all();
    } else {
      atomically(read_all, site);
    }
    return std::bit_cast<T>(*raw);
  }

  void set_large(const T& value, source_location site) {
    std::unique_ptr<std::uint64_t[]> buffer(new std::uint64_t[word_count]());
    std::memcpy(buffer.get(), &value, sizeof(T));
    auto write_all = [&] {
      for (std::size_t i = 0; i < word_count; ++i) detail::write_word(&words_[i], buffer[i], site);
    };
    if (detail::in_transaction()) {
      write_all();
    } else {
      atomically(write_all, site);
    }
  }

  static T from_words(std::uint64_t word) {
    if constexpr (sizeof(T) == 8) {
      return std::bit_cast<T>(word);
    } else {
      return from_words(&word);
    }
  }
  static T from_words(const std::uint64_t* words) {
    std::array<std::byte, sizeof(T)> raw;
    std::memcpy(raw.data(), words, sizeof(T));
    return std::bit_cast<T>(raw);
  }

  // INVARIANT: words_ is only accessed through the engine (read_word /
  // write_word), so every access is either logged or is a one-access
  // transaction. Bytes past sizeof(T) stay zero.
  alignas(alignof(T) > 8 ? alignof(T) : 8) std::uint64_t words_[word_count] = {};
};

}  // namespace optimist
