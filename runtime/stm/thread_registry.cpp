#include "stm/thread_registry.hpp"

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <cstdio>

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

#include "memory/epoch_reclaimer.hpp"
#include "profile/recorder.hpp"
#include "stm/escaped_restart.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_census.hpp"

namespace optimist::detail {

namespace {

std::atomic<transaction*> g_registered{nullptr};

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

// The calling thread's count of uncaught exceptions inside the C++ runtime,
// or nullptr. The Itanium C++ ABI (section 2.2.2) fixes the layout of the
// per-thread exception globals, { __cxa_exception* caughtExceptions;
// unsigned int uncaughtExceptions; }, and __cxa_get_globals() returns this
// thread's, valid for the thread's lifetime.
const unsigned* uncaught_exception_counter() noexcept {
#if defined(__GLIBCXX__)
  struct itanium_eh_globals {
    void* caught_exceptions;
    unsigned int uncaught_exceptions;
  };
  auto* globals = reinterpret_cast<itanium_eh_globals*>(abi::__cxa_get_globals());
  return globals != nullptr ? &globals->uncaught_exceptions : nullptr;
#else
  return nullptr;
#endif
}

// A thread that ends inside a transaction (a C thread function that returns
// before optimist_tx_commit): its attempt is rolled back, never committed.
// INVARIANT (clean-handover): a descriptor marked free holds no attempt — no
// depth, no logs, no locks, reservations or token — so the next thread that
// takes it starts from nothing.
void roll_back_abandoned_attempt(transaction& t) noexcept {
  if (t.depth > 0) {
    const bool c_block = t.c_restart_point != nullptr && t.c_block_file != nullptr;
    resolve_deferred_sites();  // INVARIANT deferred-site-resolved (profile/recorder.hpp)
    std::fprintf(stderr,
                 "optimist: a thread ended inside a transaction (begun at %s:%u in %s); it was "
                 "rolled back and nothing of it was committed\n",
                 c_block ? t.c_block_file : t.block_site.file_name(),
                 c_block ? static_cast<unsigned>(t.c_block_line)
                         : static_cast<unsigned>(t.block_site.line()),
                 c_block ? t.c_block_function : t.block_site.function_name());
    t.counters.count_abort(abort_cause::user_exception);
  }
  t.irrevocable_next = false;  // so that discard_attempt() gives the token back
  t.discard_attempt();
  t.consecutive_aborts = 0;
}

// Gives the calling thread's descriptor back (it is ending).
void release_this_thread() noexcept {
  transaction* t = tls_descriptor;
  if (t == nullptr) return;
  if (t->depth > 0 || t->holds_token) roll_back_abandoned_attempt(*t);
  tls_descriptor = nullptr;
  hand_over_retired(*t);
  t->c_entered = 0;
  t->c_restart_point = nullptr;
  t->c_attempt_open = false;
  t->c_pending_error = 0;
  t->last_end_tick = 0;  // the next thread's time outside starts at its first block
  t->active_since.store(not_active, std::memory_order_release);
  g_thread_census.fetch_sub(1, std::memory_order_seq_cst);  // INVARIANT sole-thread
  // Serial gate (serial_mode.hpp): the next owner starts unknown to the gate.
  clear_speculation_permit(t->may_speculate);
  t->in_use.store(false, std::memory_order_release);
}

// INVARIANT (released-at-exit): a thread's descriptor is given back when the
// thread ends, even when it registers during its thread_local destructors.
// The guard below, built at the thread's first registration, releases it; but
// thread_locals built before that registration are destroyed after the guard,
// and a transaction in one of their destructors (a per-thread cache flushed
// into a shared container) registered again with no guard left: the
// descriptor and its census count leaked for good (auto mode never again saw
// a thread alone). Such a late registration is released by a pthread key's
// destructor instead, which glibc runs after every thread_local destructor.
[[gnu::tls_model("initial-exec")]] thread_local bool tls_guard_gone = false;

void release_late_registration(void*) noexcept {
  release_this_thread();
}

pthread_key_t late_registration_key() {
  static const pthread_key_t key = [] {
    pthread_key_t k{};
    if (pthread_key_create(&k, &release_late_registration) != 0) {
      std::fprintf(stderr, "optimist: pthread_key_create failed (a descriptor may leak)\n");
    }
    return k;
  }();
  return key;
}

struct thread_exit_guard {
  ~thread_exit_guard() {
    release_this_thread();
    tls_guard_gone = true;
  }
};

}  // namespace

transaction* first_registered() noexcept {
  return g_registered.load(std::memory_order_acquire);
}

transaction& register_this_thread() {
  if (transaction* t = tls_descriptor) return *t;
  initialize_reporting_from_environment();
  prepare_reclamation();
  install_escaped_restart_diagnostic();
  if (tls_guard_gone) [[unlikely]] {
    (void)pthread_setspecific(late_registration_key(), &tls_guard_gone);  // any non-null value
  } else {
    (void)late_registration_key();  // created now, not first during a thread's exit
    static thread_local thread_exit_guard guard;
    (void)guard;
  }
  transaction& t = acquire_descriptor();
  // Before the census counts this thread: the controller's CPU measure
  // (mode_controller.cpp) reads it for every descriptor in use.
  clockid_t cpu_clock = -1;
  if (pthread_getcpuclockid(pthread_self(), &cpu_clock) != 0) cpu_clock = -1;
  t.cpu_clock.store(static_cast<int>(cpu_clock), std::memory_order_relaxed);
  // INVARIANT sole-thread: counted before this thread's first commit.
  g_thread_census.fetch_add(census_registration, std::memory_order_seq_cst);
  t.uncaught_count = uncaught_exception_counter();
  // A fresh seed per descriptor so that backoff does not march in lock step.
  t.random_state ^= reinterpret_cast<std::uintptr_t>(&t) * 0xD1B54A32D192ED03ull;
  tls_descriptor = &t;
  return t;
}

}  // namespace optimist::detail
