// Redo records: sealing one for the log, replaying the valid prefix
// (INVARIANT log-epoch, redo_log.hpp).
#include "durable/redo_log.hpp"

#include <cstddef>
#include <cstring>

#include "durable/checksum.hpp"
#include "durable/durable_store.hpp"
#include "durable/fault_injection.hpp"
#include "durable/store_file.hpp"

namespace optimist::durable::detail {

void seal_record(unsigned char* buffer, std::size_t bytes, std::uint64_t epoch,
                 std::uint64_t sequence) noexcept {
  // Field by field (the caller has set `count`).
  const std::uint32_t magic = record_magic;
  const std::uint64_t zero = 0;
  std::memcpy(buffer + offsetof(record_header, magic), &magic, sizeof magic);
  std::memcpy(buffer + offsetof(record_header, epoch), &epoch, sizeof epoch);
  std::memcpy(buffer + offsetof(record_header, sequence), &sequence, sizeof sequence);
  std::memcpy(buffer + offsetof(record_header, checksum), &zero, sizeof zero);
  const std::uint64_t sum = checksum64(buffer, bytes);
  std::memcpy(buffer + offsetof(record_header, checksum), &sum, sizeof sum);
}

replay_result replay_log(const std::vector<unsigned char>& log, std::uint64_t epoch,
                         unsigned char* heap, std::size_t heap_size, const std::string& log_name) {
  const bool trust_stale = g_faults.trust_stale_records.load(std::memory_order_relaxed);
  const bool skip_checksum = g_faults.skip_checksum.load(std::memory_order_relaxed);
  replay_result result;
  std::uint64_t at = page_size;
  std::uint64_t expected = 1;
  std::vector<unsigned char> scratch;
  while (at + sizeof(record_header) <= log.size()) {
    record_header h;
    std::memcpy(&h, log.data() + at, sizeof h);
    if (h.magic != record_magic || h.count == 0) break;
    if (!trust_stale && (h.epoch != epoch || h.sequence != expected)) break;
    const std::size_t bytes = record_bytes(h.count);
    if (h.count > log.size() / sizeof(record_entry) || at + bytes > log.size()) break;
    scratch.assign(log.begin() + static_cast<std::ptrdiff_t>(at),
                   log.begin() + static_cast<std::ptrdiff_t>(at + bytes));
    std::memset(scratch.data() + offsetof(record_header, checksum), 0, sizeof h.checksum);
    if (!skip_checksum && checksum64(scratch.data(), bytes) != h.checksum) break;
    // The record is complete: apply it.
    for (std::uint32_t i = 0; i < h.count; ++i) {
      record_entry e;
      std::memcpy(&e, log.data() + at + sizeof h + i * sizeof e, sizeof e);
      if (e.offset % 8 != 0 || e.offset < page_size || e.offset + 8 > heap_size) {
        if (skip_checksum) continue;  // negative control: garbage accepted
        throw_store_error(log_name, "record " + std::to_string(h.sequence) + " at byte " +
                                        std::to_string(at) + " names heap offset " +
                                        std::to_string(e.offset) +
                                        " outside the heap: the log is corrupted");
      }
      std::uint64_t word;
      std::memcpy(&word, heap + e.offset, 8);
      word = (word & ~e.mask) | (e.value & e.mask);
      std::memcpy(heap + e.offset, &word, 8);
    }
    ++result.records;
    ++expected;
    at += bytes;
  }
  result.end = at;
  return result;
}

}  // namespace optimist::durable::detail
