// bench/intset/xorshift.hpp — the per-thread random numbers of the intset and vacation workloads.
//
// xorshift64: three shifts and three xors per number, its state in a register. Every benchmark
// thread owns one, seeded from its thread index and a per-use salt, so that runs are repeatable
// and two threads never draw the same sequence.
#pragma once

#include <cstdint>

namespace bench {

class xorshift {
 public:
  explicit xorshift(std::uint64_t seed) : state_((seed + 1) * 0x9E3779B97F4A7C15ull | 1) {}

  std::uint64_t next() noexcept {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

  // below(n)
  //   A number in [0, n), n > 0. The high bits go into the multiply: xorshift's low bits are its
  //   weakest.
  std::uint64_t below(std::uint64_t n) noexcept {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  std::uint64_t state_;
};

}  // namespace bench
