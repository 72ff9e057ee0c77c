// Allocation inside the heap: segregated free lists of power-of-two blocks and
// a bump pointer, all of it transactional words in the heap (allocator_state,
// page 2). So an allocation is undone exactly when its transaction aborts, is
// made durable by the same redo record as the objects' contents, and a crash
// can neither leak a block nor hand it out twice.
//
// Block: 16-byte header (a tag: live or free, and the size class), then the
// object. A freed block's first word links the free list. Freed blocks are
// reused at once: every access to heap words is transactional, so a reader
// still holding the old object is invalidated by the orecs its reuse writes,
// and no reclamation delay is needed.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "durable/durable_store.hpp"
#include "optimist/detail/engine.hpp"

namespace optimist::durable::detail {

namespace {
constexpr std::uint64_t block_header = 16;
constexpr std::uint64_t live_tag = 0x4c49564500000000ull;  // "LIVE" | class
constexpr std::uint64_t free_tag = 0x4652454500000000ull;  // "FREE" | class

unsigned size_class(const store_impl& s, std::size_t size) {
  std::uint64_t block = 32;
  unsigned cls = 0;
  while (block < size + block_header) {
    block <<= 1;
    if (++cls >= size_classes || block > s.size) {
      throw_store_error(
          s.path, "make: an object of " + std::to_string(size) + " bytes is larger than the heap");
    }
  }
  return cls;
}

std::uint64_t* word_at(const store_impl& s, std::uint64_t offset) {
  return reinterpret_cast<std::uint64_t*>(s.base + offset);
}

std::uint64_t read(const store_impl& s, std::uint64_t offset, source_location site) {
  return optimist::detail::read_word(word_at(s, offset), site);
}
void write(const store_impl& s, std::uint64_t offset, std::uint64_t value, source_location site) {
  optimist::detail::write_word(word_at(s, offset), value, site);
}
}  // namespace

unsigned char* heap_base(const store_impl& s) noexcept {
  return s.base;
}
std::size_t heap_size(const store_impl& s) noexcept {
  return s.size;
}

std::uint64_t allocate(store_impl& s, std::size_t size, source_location site, bool* zeroed) {
  const unsigned cls = size_class(s, size);
  const std::uint64_t block = std::uint64_t{32} << cls;
  const std::uint64_t head_at = allocator_offset + offsetof(allocator_state, free_heads) + 8 * cls;
  const std::uint64_t bump_at = allocator_offset + offsetof(allocator_state, bump);
  // The allocator's words come from the file, which no checksum covers: a
  // word that points outside the heap is refused before it is followed
  // (a corrupted bump near 2^64 wrapped the fullness test; a corrupted free
  // head was read and written at any offset).
  auto corrupted = [&](const char* what, std::uint64_t value) {
    throw_store_error(s.path, std::string("the heap's allocator state is corrupted (") + what +
                                  " " + std::to_string(value) + " of a " + std::to_string(s.size) +
                                  "-byte heap)");
  };
  std::uint64_t at;
  if (std::uint64_t head = read(s, head_at, site); head != 0) {
    if (head % 16 != 0 || head < data_offset + block_header || head - block_header > s.size ||
        block > s.size - (head - block_header) ||
        read(s, head - block_header, site) != (free_tag | cls)) {
      corrupted("free block at offset", head);
    }
    write(s, head_at, read(s, head, site), site);  // pop: head = head->next
    at = head - block_header;
    *zeroed = false;
  } else {
    std::uint64_t bump = read(s, bump_at, site);
    if (bump == 0) bump = data_offset;
    if (bump < data_offset || bump % 16 != 0 || bump > s.size) corrupted("end of use", bump);
    if (block > s.size - bump) {
      throw_store_error(s.path, "the heap is full (" + std::to_string(s.size) +
                                    " bytes, options::heap_size); make of " + std::to_string(size) +
                                    " bytes failed");
    }
    write(s, bump_at, bump + block, site);
    at = bump;
    *zeroed = true;  // the file was preallocated with zeros; the bump never goes back
  }
  write(s, at, live_tag | cls, site);
  return at + block_header;
}

void deallocate(store_impl& s, std::uint64_t offset, std::size_t size, source_location site) {
  const unsigned cls = size_class(s, size);
  if (offset % 16 != 0 || offset < data_offset + block_header || offset >= s.size) {
    throw std::invalid_argument("optimist::durable::store::destroy: offset " +
                                std::to_string(offset) + " was not returned by make");
  }
  const std::uint64_t tag = read(s, offset - block_header, site);
  if (tag == (free_tag | cls)) {
    throw std::logic_error("optimist::durable::store::destroy: the object at offset " +
                           std::to_string(offset) + " was destroyed already");
  }
  if (tag != (live_tag | cls)) {
    throw std::invalid_argument(
        "optimist::durable::store::destroy: offset " + std::to_string(offset) +
        " is not a live object of this size (wrong type, or not from make)");
  }
  const std::uint64_t head_at = allocator_offset + offsetof(allocator_state, free_heads) + 8 * cls;
  write(s, offset - block_header, free_tag | cls, site);
  write(s, offset, read(s, head_at, site), site);  // push: offset->next = head
  write(s, head_at, offset, site);
}

}  // namespace optimist::durable::detail
