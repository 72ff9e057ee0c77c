// Recovery on open: make the log durable as it is (it may hold records a
// killed process wrote but never synced), replay its valid prefix into the
// heap, make the heap durable, then start a new log epoch (INVARIANT log-epoch: always, even when
// nothing was replayed, so that stale records of this epoch further on in the
// file can never follow a new record).
#include <sys/mman.h>

#include <vector>

#include "durable/durable_store.hpp"
#include "durable/file_io.hpp"
#include "durable/redo_log.hpp"

namespace optimist::durable::detail {

void store_impl::recover_and_map() {
  // INVARIANT log-before-writeback, for what recovery replays: the log is read
  // through the page cache, which may hold records that a killed process
  // wrote but never synced. Replaying one writes the heap, whose pages the
  // kernel may write back at any moment; a power cut then left a heap holding
  // the record's writes and a log without it, and the next recovery replayed
  // the earlier records over them (a partly applied transaction). So the log
  // is made durable as read, before anything is replayed.
  if (int e = io().sync(files.log_fd); e != 0) throw_store_error(log_path, "cannot sync", e);
  std::vector<unsigned char> log(files.header.log_size);
  if (int e = io().read_at(files.log_fd, log.data(), log.size(), 0); e != 0) {
    throw_store_error(log_path, "cannot read the log", e);
  }
  void* shared = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, files.heap_fd, 0);
  if (shared == MAP_FAILED) throw_store_error(path, "cannot map the heap", errno);
  base = static_cast<unsigned char*>(shared);
  replay_result replayed = replay_log(log, files.log.epoch, base, size, log_path);
  recovered = replayed.records;
  if (replayed.records > 0) {
    if (::msync(base, size, MS_SYNC) != 0) throw_store_error(path, "cannot write the heap", errno);
    if (int e = io().sync(files.heap_fd); e != 0)
      throw_store_error(path, "cannot sync the heap", e);
  }
  // The new epoch's header is the commit point of the recovery: from here on
  // the replayed records are stale.
  log_header next = files.log;
  next.epoch = files.log.epoch + 1;
  next.checksum = header_checksum(next);
  if (int e = write_log_header(files.log_fd, next); e != 0) {
    throw_store_error(log_path, "cannot write the log header", e);
  }
  if (int e = io().sync(files.log_fd); e != 0) throw_store_error(log_path, "cannot sync", e);
  files.log = next;
  epoch = next.epoch;
  if (private_mapping) {
    ::munmap(base, size);
    base = nullptr;
    void* own = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, files.heap_fd, 0);
    if (own == MAP_FAILED) throw_store_error(path, "cannot map the heap", errno);
    base = static_cast<unsigned char*>(own);
  }
}

}  // namespace optimist::durable::detail
