// Named roots: a table of (name, type id, size, offset) in the heap's page 1,
// read and written transactionally. Entries are filled in order and never
// removed, so the first empty entry ends the search.
#include <cstring>
#include <memory>
#include <stdexcept>

#include "durable/durable_store.hpp"
#include "optimist/detail/engine.hpp"

namespace optimist::durable::detail {

std::uint64_t type_id_of(const char* mangled_name, std::size_t size, std::size_t align) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char* p = mangled_name; *p != '\0'; ++p) {
    h = (h ^ static_cast<unsigned char>(*p)) * 0x100000001b3ull;
  }
  h = (h ^ size) * 0x100000001b3ull;
  return (h ^ align) * 0x100000001b3ull;
}

std::uint64_t find_or_create_root(store_impl& s, std::string_view name, std::uint64_t type_id,
                                  std::size_t size, void (*construct)(void*, void*), void* context,
                                  source_location site) {
  if (name.empty() || name.size() >= root_name_capacity || name.find('\0') != name.npos) {
    throw std::invalid_argument("optimist::durable::store::root: the name '" + std::string(name) +
                                "' must have 1 to " + std::to_string(root_name_capacity - 1) +
                                " bytes and no NUL");
  }
  char wanted[root_name_capacity] = {};
  std::memcpy(wanted, name.data(), name.size());
  auto* table = reinterpret_cast<root_entry*>(s.base + roots_offset);
  std::size_t slot = 0;
  for (; slot < root_capacity; ++slot) {
    root_entry& entry = table[slot];
    char stored[root_name_capacity];
    optimist::detail::read_bytes(entry.name, sizeof stored, stored, site);
    if (stored[0] == '\0') break;
    if (std::memcmp(stored, wanted, sizeof wanted) != 0) continue;
    std::uint64_t stored_type = optimist::detail::read_word(&entry.type_id, site);
    std::uint64_t stored_size = optimist::detail::read_word(&entry.size, site);
    if (stored_type != type_id || stored_size != size) {
      throw_store_error(s.path, "root '" + std::string(name) + "' holds another type (" +
                                    std::to_string(stored_size) + " bytes, type id " +
                                    std::to_string(stored_type) + "); asked for " +
                                    std::to_string(size) + " bytes, type id " +
                                    std::to_string(type_id));
    }
    const std::uint64_t offset = optimist::detail::read_word(&entry.offset, site);
    // From the file, which no checksum covers: a root that does not lie
    // inside the heap is refused, not handed out as a reference.
    if (offset < data_offset || offset % 16 != 0 || offset > s.size || size > s.size - offset) {
      throw_store_error(s.path, "root '" + std::string(name) + "' is corrupted (offset " +
                                    std::to_string(offset) + " of " + std::to_string(size) +
                                    " bytes in a " + std::to_string(s.size) + "-byte heap)");
    }
    return offset;
  }
  if (slot == root_capacity) {
    throw_store_error(s.path, "the root table is full (" + std::to_string(root_capacity) +
                                  " roots); cannot add '" + std::string(name) + "'");
  }
  bool zeroed = false;
  const std::uint64_t offset = allocate(s, size, site, &zeroed);
  void* raw = construction_buffer(size);
  construct(raw, context);
  write_constructed(s, offset, raw, size, zeroed, site);
  root_entry fresh{};
  std::memcpy(fresh.name, wanted, sizeof wanted);
  fresh.type_id = type_id;
  fresh.size = size;
  fresh.offset = offset;
  optimist::detail::write_bytes(&table[slot], sizeof fresh, &fresh, site);
  return offset;
}

}  // namespace optimist::durable::detail
