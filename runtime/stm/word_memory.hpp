// How the STM touches user memory: every access to a word that another thread
// may be writing back goes through std::atomic_ref with relaxed order (the
// orec protocol supplies the fences), so the program stays within the C++
// memory model and ThreadSanitizer sees no race. On x86-64 these compile to
// plain moves.
//
// A "mask" selects bytes of an aligned word: byte i of the word (in memory
// order) is selected when bits 8i..8i+7 are set. Partial accesses touch only
// the selected bytes, split into naturally aligned 4-, 2- and 1-byte pieces,
// so a neighbour sharing the word is never read past its object's end nor
// clobbered.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>

namespace optimist::detail {

static_assert(std::endian::native == std::endian::little,
              "optimist's byte masks assume a little-endian machine");

inline constexpr std::uint64_t full_mask = ~std::uint64_t{0};

// Mask of `size` bytes starting at byte `offset` of a word (offset + size <= 8).
inline std::uint64_t byte_mask(unsigned offset, unsigned size) noexcept {
  std::uint64_t ones = size >= 8 ? full_mask : ((std::uint64_t{1} << (8 * size)) - 1);
  return ones << (8 * offset);
}

template <class U>
inline U atomic_load_relaxed(std::uintptr_t address) noexcept {
  return std::atomic_ref<U>(*reinterpret_cast<U*>(address)).load(std::memory_order_relaxed);
}

template <class U>
inline void atomic_store_relaxed(std::uintptr_t address, U value) noexcept {
  std::atomic_ref<U>(*reinterpret_cast<U*>(address)).store(value, std::memory_order_relaxed);
}

// Calls piece(offset, size) for each naturally aligned piece covering `mask`.
template <class Piece>
inline void for_each_piece(std::uint64_t mask, Piece&& piece) {
  unsigned offset = 0;
  while (offset < 8) {
    if ((mask & byte_mask(offset, 1)) == 0) {
      ++offset;
    } else if (offset % 4 == 0 && (mask & byte_mask(offset, 4)) == byte_mask(offset, 4)) {
      piece(offset, 4u);
      offset += 4;
    } else if (offset % 2 == 0 && (mask & byte_mask(offset, 2)) == byte_mask(offset, 2)) {
      piece(offset, 2u);
      offset += 2;
    } else {
      piece(offset, 1u);
      offset += 1;
    }
  }
}

// Reads the selected bytes of the word at `word` (others are zero).
inline std::uint64_t load_word(std::uintptr_t word, std::uint64_t mask) noexcept {
  if (mask == full_mask) return atomic_load_relaxed<std::uint64_t>(word);
  std::uint64_t value = 0;
  for_each_piece(mask, [&](unsigned offset, unsigned size) {
    std::uint64_t piece = 0;
    switch (size) {
      case 4:
        piece = atomic_load_relaxed<std::uint32_t>(word + offset);
        break;
      case 2:
        piece = atomic_load_relaxed<std::uint16_t>(word + offset);
        break;
      default:
        piece = atomic_load_relaxed<std::uint8_t>(word + offset);
        break;
    }
    value |= piece << (8 * offset);
  });
  return value;
}

// Writes the selected bytes of `value` to the word at `word`.
inline void store_word(std::uintptr_t word, std::uint64_t value, std::uint64_t mask) noexcept {
  if (mask == full_mask) {
    atomic_store_relaxed<std::uint64_t>(word, value);
    return;
  }
  for_each_piece(mask, [&](unsigned offset, unsigned size) {
    std::uint64_t piece = value >> (8 * offset);
    switch (size) {
      case 4:
        atomic_store_relaxed<std::uint32_t>(word + offset, static_cast<std::uint32_t>(piece));
        break;
      case 2:
        atomic_store_relaxed<std::uint16_t>(word + offset, static_cast<std::uint16_t>(piece));
        break;
      default:
        atomic_store_relaxed<std::uint8_t>(word + offset, static_cast<std::uint8_t>(piece));
        break;
    }
  });
}

}  // namespace optimist::detail
