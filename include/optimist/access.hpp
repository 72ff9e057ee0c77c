// optimist/access.hpp — transactional access to ordinary memory.
//
// optimist::load(ref) and optimist::store(ref, value) read and write any
// trivially copyable object of up to 64 bytes — a struct field, an array
// element — through the STM, without wrapping it in a tvar. Conflicts are
// detected per aligned 8-byte word; only the bytes of the object itself are
// written back, so two floats packed in one word never clobber each other.
//
//   struct account { double balance; float rate; float fee; };
//   std::vector<account> accounts(1000);
//   for (auto& a : accounts)
//     optimist::add_task([&a] {
//       optimist::store(a.balance, optimist::load(a.balance) * (1 + optimist::load(a.rate)));
//     });
//
// load(ref, site) / store(ref, value, site)
//   Inside an atomic block the access belongs to the transaction; outside it
//   is a transaction of its own. Every thread must reach the object through
//   optimist while others may be accessing it transactionally: a plain write
//   racing with a transaction is a data race, as it would be with a mutex.
//   `site` defaults to the call site and is what conflict reports show.
//   An 8-byte object whose type is 8-byte aligned but whose address is not (a
//   field of a #pragma pack struct) is refused with std::invalid_argument:
//   load or store the enclosing object instead.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "optimist/detail/engine.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

inline constexpr std::size_t max_access_size = 64;

template <class T>
T load(const T& ref, source_location site = source_location::current()) {
  static_assert(std::is_trivially_copyable_v<T>,
                "optimist::load: T must be trivially copyable (it is copied word by word)");
  static_assert(sizeof(T) <= max_access_size,
                "optimist::load: objects larger than 64 bytes must be loaded field by field");
  if constexpr (sizeof(T) == 8 && alignof(T) >= 8) {
    return std::bit_cast<T>(detail::read_word(&ref, site));
  } else {
    std::array<std::byte, sizeof(T)> raw;
    detail::read_bytes(&ref, sizeof(T), raw.data(), site);
    return std::bit_cast<T>(raw);
  }
}

template <class T>
void store(T& ref, const std::type_identity_t<T>& value,
           source_location site = source_location::current()) {
  static_assert(std::is_trivially_copyable_v<T>,
                "optimist::store: T must be trivially copyable (it is copied word by word)");
  static_assert(!std::is_const_v<T>, "optimist::store: cannot store to a const object");
  static_assert(sizeof(T) <= max_access_size,
                "optimist::store: objects larger than 64 bytes must be stored field by field");
  if constexpr (sizeof(T) == 8 && alignof(T) >= 8) {
    detail::write_word(&ref, std::bit_cast<std::uint64_t>(value), site);
  } else {
    detail::write_bytes(&ref, sizeof(T), &value, site);
  }
}

}  // namespace optimist
