// Linked into every C++ test executable (CMakeLists.txt): the suites run in
// OPTIMIST_MODE=stm unless the environment names a mode.
//
// Why: the default mode, auto, runs the blocks of a thread that is alone
// (the only one holding a transaction descriptor) serially
// (runtime/stm/serial_mode.hpp), and many tests stage a conflict by making a
// block wait for a thread that starts only then: serially, that thread waits
// at the gate for the block, and both wait for ever. scripts/test names the
// modes (stm and htm by default; OPTIMIST_TEST_MODES=auto runs auto, where
// such tests skip themselves as far as they are marked, see serial_mode.hpp);
// auto mode itself is checked by tests/stm/auto_mode_test.cpp, which sets it.
#include <cstdlib>

namespace {

// Before main(), so before any transaction reads the mode; a name already in
// the environment is kept (the last argument, 0).
const bool default_mode_chosen = [] { return ::setenv("OPTIMIST_MODE", "stm", 0) == 0; }();

}  // namespace
