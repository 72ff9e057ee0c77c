// bench/hotkeys/hotkeys_gnutm.cpp — BM_hotkeys_gnutm: the hot-keys table under GCC's
// __transaction_atomic.
//
// Compiled with -fgnu-tm and linked with libitm (CMakeLists.txt, *_gnutm.cpp; g++ only). Named
// BM_hotkeys_gnutm_<method> when ITM_DEFAULT_METHOD is set (bench/run runs it again with ml_wt).
#include "../common/gnutm_access.hpp"
#include "hotkeys_benchmark.hpp"

namespace {

const bool registered = [] {
  hotkeys::register_hotkeys<bench::gnutm_access>(bench::caller_threads);
  return true;
}();

}  // namespace
