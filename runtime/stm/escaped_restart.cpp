#include "stm/escaped_restart.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "optimist/detail/engine.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

// Written once, before the first transaction of any thread (call_once);
// read by a thread that terminates, which has registered (and so passed the
// call_once) before it could throw restart_signal.
std::terminate_handler g_previous_handler = nullptr;

void explain(const char* what) noexcept {
  const transaction* tx = tls_current;
  const char* file = tx != nullptr ? tx->block_site.file_name() : "?";
  unsigned line = tx != nullptr ? static_cast<unsigned>(tx->block_site.line()) : 0;
  std::fprintf(stderr,
               "optimist: %s in the atomic block at %s:%u could not reach the block: it was "
               "thrown inside a noexcept function, so the program terminates.\n"
               "optimist: rule broken: a destructor that runs when an atomic block's body "
               "returns normally (a local of the body, a temporary) must not access "
               "transactional memory (tvar, load/store, containers, retry()); such an access "
               "that meets a conflict has to restart the block, and a destructor cannot "
               "throw. Do the access in the body before the object goes out of scope.\n",
               what, file, line);
}

[[noreturn]] void explain_escaped_restart() noexcept {
  if (std::exception_ptr current = std::current_exception()) {
    try {
      std::rethrow_exception(current);
    } catch (const retry_signal&) {
      explain("optimist::retry()");
    } catch (const restart_signal&) {
      explain("a restart after a conflict");
    } catch (...) {
    }
  }
  if (g_previous_handler != nullptr) g_previous_handler();
  std::abort();
}

}  // namespace

void install_escaped_restart_diagnostic() noexcept {
  static std::once_flag once;
  std::call_once(once, [] { g_previous_handler = std::set_terminate(explain_escaped_restart); });
}

}  // namespace optimist::detail
