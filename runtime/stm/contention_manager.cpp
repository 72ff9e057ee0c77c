#include "stm/contention_manager.hpp"

#include <atomic>
#include <thread>

#include "durable/commit_hook.hpp"
#include "profile/recorder.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

struct alignas(64) ticket_lock {
  std::atomic<std::uint64_t> next{0};
  alignas(64) std::atomic<std::uint64_t> serving{0};
  alignas(64) std::atomic<const transaction*> owner{nullptr};
};

ticket_lock g_token;

std::uint64_t next_random(transaction& tx) noexcept {
  // xorshift64*: cheap, good enough to de-synchronise threads.
  std::uint64_t x = tx.random_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  tx.random_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

}  // namespace

void cpu_relax(unsigned iterations) noexcept {
  for (unsigned i = 0; i < iterations; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }
}

void wait_round(unsigned round) noexcept {
  if (round < 16) {
    cpu_relax(1u << (round / 2));
  } else {
    std::this_thread::yield();
  }
}

void backoff(transaction& tx) noexcept {
  unsigned aborts = tx.consecutive_aborts;
  if (aborts == 0) return;
  unsigned exponent = aborts < 10 ? aborts : 10;
  std::uint64_t spins = next_random(tx) & ((std::uint64_t{16} << exponent) - 1);
  if (aborts > 6) std::this_thread::yield();
  cpu_relax(static_cast<unsigned>(spins));
}

void acquire_inevitability_token(transaction& tx) noexcept {
  std::uint64_t ticket = g_token.next.fetch_add(1, std::memory_order_relaxed);
  for (unsigned round = 0; g_token.serving.load(std::memory_order_acquire) != ticket; ++round) {
    wait_round(round);
  }
  g_token.owner.store(&tx, std::memory_order_relaxed);
  tx.holds_token = true;
  // DURABLE HOOK: with a process-shared store open, reservations of its orecs
  // must be single across processes too (INVARIANT single-reserver).
  if (shared_orecs_active()) {
    durable_acquire_shared_token();
    tx.holds_shared_token = true;
  }
}

void release_inevitability_token(transaction& tx) noexcept {
  if (tx.holds_shared_token) {
    tx.holds_shared_token = false;
    durable_release_shared_token();  // DURABLE HOOK
  }
  tx.holds_token = false;
  g_inevitable_site.store(0, std::memory_order_relaxed);
  g_token.owner.store(nullptr, std::memory_order_relaxed);
  g_token.serving.fetch_add(1, std::memory_order_release);
}

const transaction* inevitable_owner() noexcept {
  return g_token.owner.load(std::memory_order_relaxed);
}

}  // namespace optimist::detail
