#include "tasks/add_bias.hpp"

#include <cstdlib>
#include <mutex>
#include <thread>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace optimist::detail {

std::atomic<bool> g_add_bias_asymmetric{false};

namespace {

std::mutex g_records_mutex;
add_bias_record* g_free_records = nullptr;  // guarded by g_records_mutex
std::uint64_t g_next_token = 1;             // guarded by g_records_mutex

// Gives the record back when the thread exits (see add_bias.hpp: records are
// reused, never freed).
struct record_keeper {
  ~record_keeper() {
    if (tls_add_bias_record == nullptr) return;
    std::lock_guard<std::mutex> lock(g_records_mutex);
    tls_add_bias_record->next_free = g_free_records;
    g_free_records = tls_add_bias_record;
    tls_add_bias_record = nullptr;
    tls_add_bias_token = 0;
  }
};
thread_local record_keeper tls_record_keeper;

void this_thread_needs_a_record() {
  if (tls_add_bias_record != nullptr) return;
  std::lock_guard<std::mutex> lock(g_records_mutex);
  add_bias_record* record = g_free_records;
  if (record != nullptr) {
    g_free_records = record->next_free;
  } else {
    record = new (std::nothrow) add_bias_record;
    if (record == nullptr) return;  // no bias for this thread: the lock still works
  }
  record->token = g_next_token++;
  tls_add_bias_record = record;
  tls_add_bias_token = record->token;
  (void)&tls_record_keeper;  // constructed with the thread's first record
}

void choose_fences() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__linux__)
    if (std::getenv("OPTIMIST_SYMMETRIC_FENCES") == nullptr &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
      g_add_bias_asymmetric.store(true, std::memory_order_relaxed);
    }
#endif
  });
}

void heavy_fence() noexcept {
#if defined(__linux__)
  if (g_add_bias_asymmetric.load(std::memory_order_relaxed) &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
    return;
  }
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

constexpr std::uint64_t max_grant_after = std::uint64_t{1} << 20;

}  // namespace

void add_bias::revoke() noexcept {
  // INVARIANT bias-excludes.
  owner_token_.store(0, std::memory_order_relaxed);
  heavy_fence();
  // INVARIANT bias-wait-is-own: only the owner's add to this queue.
  for (unsigned round = 0; owner_record_->inside.load(std::memory_order_acquire) == this; ++round) {
    std::this_thread::yield();  // the owner is inside one add: a few nanoseconds unless preempted
  }
  owner_record_ = nullptr;
}

void add_bias::locked(bool add) noexcept {
  const std::uint64_t owner = owner_token_.load(std::memory_order_relaxed);
  const std::uint64_t mine = tls_add_bias_token;
  if (owner != 0 && owner != mine) {
    revoke();
    if (add && grant_after_ < max_grant_after) grant_after_ *= 2;  // adders take turns
    consecutive_adds_ = 0;
  }
  if (!add || (owner != 0 && owner == mine)) return;
  if (mine == 0 || mine != last_adder_) {
    if (mine == 0) {
      this_thread_needs_a_record();
      if (tls_add_bias_token == 0) return;
    }
    last_adder_ = tls_add_bias_token;
    consecutive_adds_ = 1;
    return;
  }
  if (++consecutive_adds_ < grant_after_) return;
  // INVARIANT bias-granted-under-lock: to the lock holder, by itself.
  choose_fences();
  owner_record_ = tls_add_bias_record;
  owner_token_.store(mine, std::memory_order_relaxed);
}

}  // namespace optimist::detail
