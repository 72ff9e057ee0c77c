// bench/common/xorshift.hpp — the workloads' random numbers: cheap, per thread, reproducible.
//
// xorshift64 is three shifts and three xors with its state in a register, so drawing the next
// account or key costs next to nothing beside the synchronisation being measured.
//
//   bench::xorshift_rng rng(state.thread_index());
//   std::size_t key = rng.below(10'000);
#pragma once

#include <cstddef>
#include <cstdint>

namespace bench {

struct xorshift_rng {
  std::uint64_t state;

  // Distinct, never-zero seeds for distinct streams (thread indices, for instance).
  explicit xorshift_rng(std::uint64_t stream) : state((0x9E3779B97F4A7C15ull * (stream + 1)) | 1) {}

  std::uint64_t next() noexcept {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }

  // A number in [0, bound), bound > 0 (multiply-shift: no division, negligible bias here).
  std::size_t below(std::size_t bound) noexcept {
    return static_cast<std::size_t>((static_cast<unsigned __int128>(next() >> 11) * bound) >> 53);
  }

  // True with probability percent / 100.
  bool percent(unsigned percent) noexcept { return below(100) < percent; }
};

}  // namespace bench
