// optimist::durable::store: opening (files, recovery, mapping), closing, and
// the public members that are not templates.
#include "durable/durable_store.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <vector>

#include "durable/commit_hook.hpp"
#include "durable/shared_store.hpp"
#include "optimist/detail/engine.hpp"
#include "stm/transaction.hpp"

namespace optimist::durable {

namespace detail {

store_impl::store_impl(const std::string& p, const options& o)
    : path(p), log_path(log_path_for(p)), opts(o) {
  if (optimist::detail::in_transaction()) {
    throw std::logic_error("optimist::durable::store: open a store outside transactions");
  }
  if (p.empty()) {
    // (It used to create the log as a file named "-log" in the working
    // directory before the heap file's creation failed.)
    throw store_error("optimist::durable::store: the path is empty");
  }
  if (opts.multi_process) {
    multi_process = true;
    open_shared();  // shared_store.cpp
    return;
  }
  files = open_store_files(path, opts.heap_size, opts.log_size, opts.create_if_missing);
  size = files.header.heap_size;
  private_mapping = opts.mode == durability::relaxed;
  try {
    recover_and_map();
    if (private_mapping) {
      dirty_pages = std::vector<std::atomic<std::uint64_t>>(size / page_size / 64 + 1);
    }
    register_store(this);
    if (opts.mode == durability::relaxed) flusher = std::thread([this] { run_flusher(); });
  } catch (...) {
    // (No flusher thread: std::system_error after the store was registered;
    // every later durable commit would have looked up this freed object.
    // unregister_store does nothing for a store not registered.)
    unregister_store(this);
    if (base != nullptr) ::munmap(base, size);
    ::close(files.heap_fd);
    ::close(files.log_fd);
    throw;
  }
}

store_impl::~store_impl() {
  if (multi_process) {
    close_shared();
    return;
  }
  if (flusher.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    flusher_wake.notify_all();
    flusher.join();
  }
  try {
    // Leaves an empty log: the next open replays nothing. After a failure
    // nothing more is written (INVARIANT fail-stop); recovery sorts it out.
    if (failure.empty()) checkpoint();
  } catch (...) {
  }
  unregister_store(this);
  ::munmap(base, size);
  ::close(files.heap_fd);  // releases the flock
  ::close(files.log_fd);
}

}  // namespace detail

store::store(const std::string& path, const options& opts)
    : impl_(std::make_unique<detail::store_impl>(path, opts)) {}

namespace {

// Stores destroyed inside a transaction that has not committed yet, and those
// whose transaction aborted (kept open until the process ends): reachable
// from here, so that they are neither freed twice nor reported as leaks.
struct closing_stores {
  std::mutex mutex;
  std::vector<detail::store_impl*> stores;
};
closing_stores& stores_closing() {
  static closing_stores* const list = new closing_stores;  // never destroyed: see above
  return *list;
}

}  // namespace

// INVARIANT (close-after-commit): a store destroyed inside a transaction
// closes only once that transaction has committed. Its commit writes the heap
// words back after this destructor has returned; closing here unmapped the heap
// under it (a crash in the write-back). So the store's state is handed to an
// on-commit action, which runs when the transaction is over. If the
// transaction aborts instead, the action is dropped and the store stays open
// (its files locked) until the process ends: the aborted attempt wrote nothing
// to the heap, and the next open recovers every commit before it.
store::~store() {
  optimist::detail::transaction* tx = optimist::detail::tls_current;
  if (tx == nullptr || impl_ == nullptr) return;  // impl_ closes the store now
  std::fprintf(stderr,
               "optimist: durable::store %s was destroyed inside a transaction; it closes when "
               "the transaction commits (if it aborts, the store stays open until the process "
               "ends). Destroy stores outside transactions.\n",
               impl_->path.c_str());
  detail::store_impl* impl = impl_.release();
  closing_stores& closing = stores_closing();
  try {
    {
      std::lock_guard<std::mutex> lock(closing.mutex);
      closing.stores.push_back(impl);
    }
    tx->on_commit.push_back([impl] {
      {
        closing_stores& list = stores_closing();
        std::lock_guard<std::mutex> lock(list.mutex);
        std::erase(list.stores, impl);
      }
      delete impl;
    });
  } catch (...) {
    // Out of memory: the store stays open until the process ends, as after an
    // abort (if the list could not hold it either, it is leaked as it stands).
  }
}

void store::checkpoint() {
  if (optimist::detail::in_transaction()) {
    throw std::logic_error("optimist::durable::store::checkpoint: not inside a transaction");
  }
  impl_->checkpoint();
}

store::statistics store::stats() const {
  statistics s;
  s.commits = impl_->commits.load(std::memory_order_relaxed);
  s.syncs = impl_->syncs.load(std::memory_order_relaxed);
  if (impl_->shared != nullptr) {  // every process's (shared_store.cpp)
    s.commits = impl_->shared->commits.load(std::memory_order_relaxed);
    s.syncs = impl_->shared->syncs.load(std::memory_order_relaxed);
  }
  s.checkpoints = impl_->checkpoints.load(std::memory_order_relaxed);
  s.recovered = impl_->recovered;
  s.dead_processes_recovered = impl_->dead_recovered.load(std::memory_order_relaxed);
  return s;
}

const std::string& store::path() const noexcept {
  return impl_->path;
}

}  // namespace optimist::durable
