// bench/bank_workload.hpp — the bank-transfer workload shared by stm_bank_bench.cpp and
// stm_bank_gnutm.cpp.
//
// 1024 accounts; each transaction picks two distinct accounts with a per-thread xorshift
// generator and moves one unit: 2 reads and 2 writes (from -= 1, to += 1). Every variant runs
// exactly this, so their times differ only by how the transfer is synchronised. Transfers
// conserve money: the sum of all balances stays account_count * initial_balance, which each
// benchmark checks after its run.
#pragma once

#include <cstdint>

namespace bank {

inline constexpr unsigned account_count = 1024;  // a power of two: indices are masked
inline constexpr long initial_balance = 1000;
inline constexpr long expected_total = static_cast<long>(account_count) * initial_balance;

static_assert((account_count & (account_count - 1)) == 0, "account_count must be a power of two");

// xorshift64: three shifts and three xors per number, state in a register, one per thread.
struct xorshift_rng {
  std::uint64_t state;

  explicit xorshift_rng(unsigned thread_index)
      : state(0x9E3779B97F4A7C15ull * (thread_index + 1) | 1) {}

  std::uint64_t next() noexcept {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

struct transfer {
  unsigned from;
  unsigned to;
};

// Two distinct accounts from one random number (10 bits each).
inline transfer pick_transfer(xorshift_rng& rng) noexcept {
  std::uint64_t r = rng.next();
  unsigned from = static_cast<unsigned>(r) & (account_count - 1);
  unsigned to = static_cast<unsigned>(r >> 10) & (account_count - 1);
  if (to == from) to = (to + 1) & (account_count - 1);
  return {from, to};
}

}  // namespace bank

#if !defined(OPTIMIST_NO_GNU_TM)
// gnutm_transfer(accounts, from, to)
//   The transfer inside GCC's `__transaction_atomic` (libitm). Defined in stm_bank_gnutm.cpp,
//   the one file compiled with -fgnu-tm; a plain function so the benchmark file needs no TM flag.
void gnutm_transfer(long* accounts, unsigned from, unsigned to);
#endif
