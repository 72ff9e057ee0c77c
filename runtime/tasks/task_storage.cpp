#include "tasks/task_storage.hpp"

#include <algorithm>
#include <new>
#include <utility>

namespace optimist::detail {

namespace {
// Blocks are cache-line aligned, so that a task aligned to at most 64 bytes
// never needs more than the block size plus its alignment.
constexpr std::align_val_t block_alignment{64};
}  // namespace

task_storage::task_storage(task_storage&& other) noexcept
    : newest_(std::exchange(other.newest_, nullptr)),
      cursor_(std::exchange(other.cursor_, nullptr)),
      end_(std::exchange(other.end_, nullptr)) {}

task_storage& task_storage::operator=(task_storage&& other) noexcept {
  if (this != &other) {
    release();
    newest_ = std::exchange(other.newest_, nullptr);
    cursor_ = std::exchange(other.cursor_, nullptr);
    end_ = std::exchange(other.end_, nullptr);
  }
  return *this;
}

task_storage::~task_storage() {
  release();
}

void task_storage::release() noexcept {
  while (newest_ != nullptr) {
    block_header* older = newest_->older;
    ::operator delete(static_cast<void*>(newest_), block_alignment);
    newest_ = older;
  }
  cursor_ = nullptr;
  end_ = nullptr;
}

void* task_storage::allocate_in_new_block(std::size_t size, std::size_t alignment) {
  // The header takes the first cache line, so objects start 64-byte aligned.
  constexpr std::size_t header_space = 64;
  static_assert(sizeof(block_header) <= header_space);
  const std::size_t bytes = std::max(block_size, header_space + size + alignment);
  auto* memory = static_cast<std::byte*>(::operator new(bytes, block_alignment));  // may throw
  auto* header = ::new (memory) block_header{newest_};
  newest_ = header;
  cursor_ = memory + header_space;
  end_ = memory + bytes;
  return allocate(size, alignment);  // fits now
}

void task_storage::append(task_storage&& other) noexcept {
  if (other.newest_ == nullptr) return;
  if (newest_ == nullptr) {
    *this = std::move(other);
    return;
  }
  // Link other's blocks in behind our newest one, which stays the allocating one.
  block_header* oldest_of_other = other.newest_;
  while (oldest_of_other->older != nullptr) oldest_of_other = oldest_of_other->older;
  oldest_of_other->older = newest_->older;
  newest_->older = other.newest_;
  other.newest_ = nullptr;
  other.cursor_ = nullptr;
  other.end_ = nullptr;
}

}  // namespace optimist::detail
