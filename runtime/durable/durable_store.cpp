// optimist::durable::store: opening (files, recovery, mapping), closing, and
// the public members that are not templates.
#include "durable/durable_store.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include "durable/commit_hook.hpp"
#include "durable/shared_store.hpp"
#include "optimist/detail/engine.hpp"

namespace optimist::durable {

namespace detail {

store_impl::store_impl(const std::string& p, const options& o)
    : path(p), log_path(log_path_for(p)), opts(o) {
  if (optimist::detail::in_transaction()) {
    throw std::logic_error("optimist::durable::store: open a store outside transactions");
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
  } catch (...) {
    if (base != nullptr) ::munmap(base, size);
    ::close(files.heap_fd);
    ::close(files.log_fd);
    throw;
  }
  if (opts.mode == durability::relaxed) flusher = std::thread([this] { run_flusher(); });
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

store::~store() = default;

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
