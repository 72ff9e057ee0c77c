// What the program says when a restart cannot reach its atomic block.
//
// The engine restarts an attempt by throwing restart_signal to the outermost
// atomic block. Thrown inside a noexcept function — in practice a destructor
// that runs as the block's body returns normally and whose transactional
// access meets a conflict — it cannot leave that function, and C++ calls
// std::terminate. Nothing can turn that into an ordinary error any more (a
// destructor has no way to report it, and the attempt's reads are already
// inconsistent), so the library names the broken rule before the program ends.
#pragma once

namespace optimist::detail {

// Installs (once per process, chaining to the handler found) a terminate
// handler that, when the exception being handled is a restart_signal or a
// retry_signal, explains on stderr which rule was broken and which atomic
// block it concerns, then calls the previous handler. Called when a thread
// registers for its first transaction.
void install_escaped_restart_diagnostic() noexcept;

}  // namespace optimist::detail
