#include "stm/thread_registry.hpp"

#include <atomic>

#include "memory/epoch_reclaimer.hpp"
#include "profile/recorder.hpp"

namespace optimist::detail {

namespace {

std::atomic<transaction*> g_registered{nullptr};

[[gnu::tls_model("initial-exec")]] thread_local transaction* tls_descriptor = nullptr;

transaction& acquire_descriptor() {
  for (transaction* t = g_registered.load(std::memory_order_acquire); t != nullptr;
       t = t->next_registered) {
    bool expected = false;
    if (!t->in_use.load(std::memory_order_relaxed) &&
        t->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      return *t;
    }
  }
  auto* t = new transaction();
  t->in_use.store(true, std::memory_order_relaxed);
  transaction* head = g_registered.load(std::memory_order_relaxed);
  do {
    t->next_registered = head;
  } while (!g_registered.compare_exchange_weak(head, t, std::memory_order_release,
                                               std::memory_order_relaxed));
  return *t;
}

// Gives the descriptor back when the thread ends.
struct thread_exit_guard {
  ~thread_exit_guard() {
    transaction* t = tls_descriptor;
    if (t == nullptr) return;
    tls_descriptor = nullptr;
    hand_over_retired(*t);
    t->c_entered = 0;
    t->c_restart_point = nullptr;
    t->active_since.store(not_active, std::memory_order_release);
    // Serial gate (serial_mode.hpp): the next owner starts unknown to the gate.
    t->may_speculate.store(false, std::memory_order_relaxed);
    t->in_use.store(false, std::memory_order_release);
  }
};

}  // namespace

transaction* first_registered() noexcept {
  return g_registered.load(std::memory_order_acquire);
}

transaction& this_thread_transaction() {
  if (transaction* t = tls_descriptor) return *t;
  initialize_reporting_from_environment();
  prepare_reclamation();
  static thread_local thread_exit_guard guard;
  (void)guard;
  transaction& t = acquire_descriptor();
  // A fresh seed per descriptor so that backoff does not march in lock step.
  t.random_state ^= reinterpret_cast<std::uintptr_t>(&t) * 0xD1B54A32D192ED03ull;
  tls_descriptor = &t;
  return t;
}

}  // namespace optimist::detail
