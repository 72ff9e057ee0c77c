// The coordination state of a store that several processes open at once
// (options::multi_process): the sidecar file `<path>-shm`, mapped by every
// such process. The protocol and its invariants are in shared_store.cpp.
//
//   shared_header   robust process-shared mutexes (log append, sync leader,
//                   inevitability token), the shared clock, the log's append
//                   state, the commit bell (a futex word for retry()), one
//                   process_slot per process
//   orec table      one orec per heap word offset (modulo its size), after the
//                   header, page-aligned (runtime/stm/orec_table.hpp)
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace optimist::durable::detail {

inline constexpr std::size_t max_processes = 32;
inline constexpr std::size_t records_per_process = 128;  // commits in flight at once
inline constexpr unsigned shared_orecs_log2 = 16;
inline constexpr std::size_t shared_orec_count = std::size_t{1} << shared_orecs_log2;
inline constexpr std::uint64_t sidecar_magic = 0x314d48535453504full;  // "OPSTSHM1"
inline constexpr std::uint32_t sidecar_layout = 3;

// A position in the log: (epoch << 40) | byte offset. Ordered like the log.
inline constexpr unsigned position_shift = 40;
inline std::uint64_t log_position(std::uint64_t epoch, std::uint64_t offset) noexcept {
  return (epoch << position_shift) | offset;
}
// The epochs and the records of an epoch that fit above the 40 bits of the offset. A store of
// several processes refuses a log that could hold more records in one epoch (at open), and
// stops with an error before its epoch would pass the limit (at a checkpoint or a recovering
// open): a wrapped position compared as already durable, and commits were acknowledged unsynced.
inline constexpr std::uint64_t max_shared_epoch = (std::uint64_t{1} << (64 - position_shift)) - 1;
inline constexpr std::uint64_t max_shared_records = (std::uint64_t{1} << (64 - position_shift)) - 1;
// The append state of the current epoch: (records << 40) | append offset.
inline std::uint64_t tail_records(std::uint64_t tail) noexcept {
  return tail >> position_shift;
}
inline std::uint64_t tail_offset(std::uint64_t tail) noexcept {
  return tail & ((std::uint64_t{1} << position_shift) - 1);
}
inline std::uint64_t make_tail(std::uint64_t records, std::uint64_t offset) noexcept {
  return (records << position_shift) | offset;
}

// One commit of a process between its append and its write-back.
enum record_state : std::uint32_t {
  record_free = 0,
  record_appending = 1,  // being appended by the holder of log_mutex
  record_appended = 2,   // in the log at (epoch, offset, size); not yet written back
};

struct inflight_record {
  std::atomic<std::uint32_t> state;
  std::atomic<std::uint64_t> epoch;
  std::atomic<std::uint64_t> offset;
  std::atomic<std::uint64_t> size;
};

struct process_slot {
  // Locked for its whole life by the process's holder thread: a dead process
  // shows as EOWNERDEAD (INVARIANT dead-owner).
  pthread_mutex_t alive;
  std::atomic<std::int32_t> pid;  // 0: free
  std::atomic<std::uint64_t> commits;
  inflight_record records[records_per_process];
};

struct shared_header {
  std::uint64_t magic;
  std::uint64_t store_id;
  std::uint32_t layout;
  std::uint32_t orec_count;
  std::uint64_t session;        // = the heap's session word (INVARIANT one-sidecar)
  pthread_mutex_t log_mutex;    // the append state: epoch, tail, appending records, checkpoints
  pthread_mutex_t sync_mutex;   // held by the group-commit leader (gathering, fdatasync)
  pthread_mutex_t token_mutex;  // the inevitability token across processes
  alignas(64) std::atomic<std::uint64_t> clock;
  alignas(64) std::atomic<std::uint64_t> epoch;
  std::atomic<std::uint64_t> tail;
  std::atomic<std::uint64_t> durable;     // a log position: everything before it is synced
  std::atomic<std::uint64_t> last_slots;  // the slots of the last 8 appends (a byte each)
  std::atomic<std::uint64_t> sync_began;  // the tail (with its epoch's records) when the last
  std::atomic<std::uint64_t> sync_epoch;  //   sync began: records appended since wait for one
  std::atomic<std::uint64_t> commits;
  std::atomic<std::uint64_t> syncs;
  std::atomic<std::uint64_t> recoveries;               // dead processes recovered
  alignas(64) std::atomic<std::uint32_t> sync_bell;    // futex word, bumped when `durable` rises
  std::atomic<std::uint32_t> append_bell;              // futex word, bumped by appends
  std::atomic<std::uint32_t> gathering;                // a leader waits on append_bell
  alignas(64) std::atomic<std::uint32_t> commit_bell;  // futex word, bumped by shared commits
  alignas(64) process_slot slots[max_processes];
};

inline std::size_t sidecar_orecs_offset() noexcept {
  return (sizeof(shared_header) + 4095) / 4096 * 4096;
}
inline std::size_t sidecar_size() noexcept {
  return sidecar_orecs_offset() + shared_orec_count * sizeof(std::atomic<std::uint64_t>);
}

}  // namespace optimist::durable::detail
