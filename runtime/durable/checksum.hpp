// checksum64: a fast 64-bit checksum of 8-byte words, used for the store and
// log headers and every redo record. Not cryptographic: it detects torn and
// partly written records and random corruption (a flipped bit changes the
// result with certainty; unrelated data matches with probability ~2^-64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace optimist::durable::detail {

inline std::uint64_t checksum_mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

// `size` must be a multiple of 8.
inline std::uint64_t checksum64(const void* data, std::size_t size,
                                std::uint64_t seed = 0x6f7074696d697374ull) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t h = seed ^ (size * 0x9E3779B97F4A7C15ull);
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    h = (h ^ checksum_mix(w + i)) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  return checksum_mix(h);
}

}  // namespace optimist::durable::detail
