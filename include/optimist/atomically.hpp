// optimist/atomically.hpp — atomic blocks.
//
// optimist::atomically(f) runs f as a transaction: every transactional access
// inside it (optimist::tvar, optimist::load / optimist::store, the containers)
// takes effect all at once when f returns, or not at all. If another thread
// commits a conflicting write first, the attempt is rolled back and f runs
// again, so f must not have effects other than transactional ones (or call
// optimist::become_inevitable() first).
//
//   optimist::tvar<long> from{100}, to{0};
//   long moved = optimist::atomically([&] {
//     long amount = from.get() / 2;
//     from.set(from.get() - amount);
//     to.set(to.get() + amount);
//     return amount;
//   });
//
// atomically(f)
//   Returns what f returns. An exception escaping f rolls back every effect of
//   this block and propagates unchanged. Blocks nest: an inner block that
//   throws rolls back only its own effects (closed nesting); the outer one may
//   catch the exception and go on. The last parameter names the block in
//   conflict reports and defaults to the call site.
//
//   Cost: run speculatively (stm), a few nanoseconds to begin and a commit that
//   locks each written word once; read-only blocks commit without writing
//   shared memory. Run serially (serial mode; auto while the thread is alone),
//   a global lock taken and released, in-place writes with an undo log.
//   Progress: a block that keeps being aborted backs off, and after a bounded
//   number of restarts runs irrevocably (it can no longer be aborted; other
//   threads go on unless they conflict with it).
//
//   Destructors inside the block: while an exception (or a restart) unwinds the
//   block, destructors may still read and write transactional memory; a lost
//   attempt answers them word by word and discards their writes. A destructor
//   that runs when the body returns normally and meets a conflict would have to
//   throw to restart the block, which a noexcept destructor cannot do: the
//   program terminates, after a message on stderr naming this rule and the
//   block. Keep transactional accesses out of such destructors.
#pragma once

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "optimist/detail/engine.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

namespace detail {

struct no_result {};

// One try of f as a hardware transaction (optimist/mode.hpp). Returns true if
// it committed, with f's result in `out` (no_result for a void f). A block
// whose result cannot be held in a std::optional (a reference) always runs in
// software.
template <class F, class Result>
bool try_in_hardware(F& f, std::optional<Result>& out, source_location site) {
  struct frame {
    F* f;
    std::optional<Result>* out;
  } context{&f, &out};
  auto body = [](void* p) {
    auto* c = static_cast<frame*>(p);
    try {
      if constexpr (std::is_same_v<Result, no_result>) {
        std::invoke(*c->f);
      } else {
        c->out->emplace(std::invoke(*c->f));
      }
    } catch (...) {
      hardware_abort_for_exception();
      throw;  // not reached inside a hardware transaction
    }
  };
  return hardware_attempt(body, &context, site);
}

}  // namespace detail

template <class F>
auto atomically(F&& f, source_location site = source_location::current())
    -> std::invoke_result_t<F&> {
  using result = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<result>) {
    if (detail::g_hardware_maybe.load(std::memory_order_relaxed)) {
      std::optional<detail::no_result> unused;
      if (detail::try_in_hardware(f, unused, site)) return;
    }
  } else if constexpr (std::is_object_v<result> && std::is_move_constructible_v<result>) {
    if (detail::g_hardware_maybe.load(std::memory_order_relaxed)) {
      std::optional<result> out;
      if (detail::try_in_hardware(f, out, site)) return std::move(*out);
    }
  }
  for (;;) {
    detail::transaction& tx = detail::block_begin(site);
    bool to_c = false;  // nested in a C transaction: jump back to it once the handler is over
    bool committed = false;
    try {
      if constexpr (std::is_void_v<result>) {
        std::invoke(f);
        detail::block_commit(tx);
        return;
      } else {
        result r = std::invoke(f);
        detail::block_commit(tx);
        committed = true;
        return r;  // a copy that throws here throws after the commit: nothing to undo
      }
    } catch (const detail::restart_signal&) {
      if (!detail::block_restart(tx) && !(to_c = detail::restarts_c_transaction(tx, true))) throw;
    } catch (...) {
      if (committed) throw;  // (block_exception would undo the enclosing block's level)
      if (detail::block_exception(tx) && !(to_c = detail::restarts_c_transaction(tx, false))) throw;
    }
    if (to_c) detail::leave_to_c(tx);
  }
}

// in_transaction()
//   True while the calling thread runs inside an atomic block.
inline bool in_transaction() noexcept {
  return detail::in_transaction();
}

}  // namespace optimist
