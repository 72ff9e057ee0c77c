#include "tasks/task_storage.hpp"

#include <algorithm>
#include <new>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace optimist::detail {

namespace {
// Blocks are cache-line aligned, so that a task aligned to at most 64 bytes
// never needs more than the block size plus its alignment.
constexpr std::align_val_t block_alignment{64};
}  // namespace

task_storage::task_storage(task_storage&& other) noexcept
    : newest_(std::exchange(other.newest_, nullptr)),
      cursor_(std::exchange(other.cursor_, nullptr)),
      end_(std::exchange(other.end_, nullptr)),
      spare_(std::exchange(other.spare_, nullptr)),
      spare_count_(std::exchange(other.spare_count_, 0)) {}

task_storage& task_storage::operator=(task_storage&& other) noexcept {
  if (this != &other) {
    release();
    newest_ = std::exchange(other.newest_, nullptr);
    cursor_ = std::exchange(other.cursor_, nullptr);
    end_ = std::exchange(other.end_, nullptr);
    spare_ = std::exchange(other.spare_, nullptr);
    spare_count_ = std::exchange(other.spare_count_, 0);
  }
  return *this;
}

task_storage::~task_storage() {
  release();
}

void task_storage::free_list(block_header* list) noexcept {
  while (list != nullptr) {
    block_header* older = list->older;
    ::operator delete(static_cast<void*>(list), block_alignment);
    list = older;
  }
}

void task_storage::release() noexcept {
  free_list(std::exchange(newest_, nullptr));
  free_list(std::exchange(spare_, nullptr));
  spare_count_ = 0;
  cursor_ = nullptr;
  end_ = nullptr;
}

void* task_storage::allocate_in_new_block(std::size_t size, std::size_t alignment) {
  // The header takes the first cache line, so objects start 64-byte aligned.
  constexpr std::size_t header_space = 64;
  static_assert(sizeof(block_header) <= header_space);
  const std::size_t bytes = std::max(block_size, header_space + size + alignment);
  std::byte* memory;
  if (bytes == block_size && spare_ != nullptr) {
    memory = reinterpret_cast<std::byte*>(std::exchange(spare_, spare_->older));
    --spare_count_;
  } else {
    memory = static_cast<std::byte*>(::operator new(bytes, block_alignment));  // may throw
  }
  newest_ = ::new (memory) block_header{newest_, bytes};
  cursor_ = memory + header_space;
  end_ = memory + bytes;
  return allocate(size, alignment);  // fits now
}

task_storage task_storage::take_blocks() noexcept {
  task_storage taken;
  taken.newest_ = std::exchange(newest_, nullptr);
  taken.cursor_ = std::exchange(cursor_, nullptr);
  taken.end_ = std::exchange(end_, nullptr);
  return taken;
}

void task_storage::recycle(task_storage&& used) noexcept {
  block_header* list = std::exchange(used.newest_, nullptr);
  used.release();  // its own spares, if any
  std::size_t freed = 0;
  while (list != nullptr) {
    block_header* block = list;
    list = block->older;
    if (block->bytes == block_size && spare_count_ < max_spare_blocks) {
      block->older = spare_;
      spare_ = block;
      ++spare_count_;
    } else {
      freed += block->bytes;
      ::operator delete(static_cast<void*>(block), block_alignment);
    }
  }
#if defined(__GLIBC__)
  // Blocks come from the allocator's heap, which gives memory back to the
  // system only from its top: the spares kept above (and any live allocation)
  // would pin everything freed below them, and a run of 10^7 tasks kept
  // ~140 MB after it. Once a run freed more than the spares' limit (runs of
  // more than ~2M small tasks), hand the free pages back: about 0.2 ms per
  // MB returned (25 ms for 128 MB here), some 5% of what such a run costs.
  if (freed > max_spare_blocks * block_size) malloc_trim(0);
#endif
}

void task_storage::keep_blocks_holding(task_storage&& used,
                                       std::vector<std::uintptr_t>& addresses) noexcept {
  std::sort(addresses.begin(), addresses.end());
  block_header* list = std::exchange(used.newest_, nullptr);
  used.cursor_ = nullptr;
  used.end_ = nullptr;
  block_header* kept = nullptr;  // a list through `older`, in reverse
  block_header* kept_oldest = nullptr;
  task_storage dropped;
  block_header* dropped_list = nullptr;
  while (list != nullptr) {
    block_header* block = list;
    list = block->older;
    const auto begin = reinterpret_cast<std::uintptr_t>(block);
    const auto at = std::lower_bound(addresses.begin(), addresses.end(), begin);
    if (at != addresses.end() && *at < begin + block->bytes) {
      block->older = kept;
      if (kept == nullptr) kept_oldest = block;
      kept = block;
    } else {
      block->older = dropped_list;
      dropped_list = block;
    }
  }
  dropped.newest_ = dropped_list;  // (recycle reads only the list)
  recycle(std::move(dropped));
  if (kept == nullptr) return;
  if (newest_ == nullptr) {
    // No allocating block: the next allocation opens one, linked in front of these.
    newest_ = kept;
    cursor_ = nullptr;
    end_ = nullptr;
    return;
  }
  kept_oldest->older = newest_->older;
  newest_->older = kept;
}

bool task_storage::holds(const void* address) const noexcept {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  for (const block_header* block = newest_; block != nullptr; block = block->older) {
    const auto begin = reinterpret_cast<std::uintptr_t>(block);
    if (at >= begin && at < begin + block->bytes) return true;
  }
  return false;
}

void task_storage::append(task_storage&& other) noexcept {
  if (other.newest_ == nullptr) return;
  if (newest_ == nullptr) {
    newest_ = std::exchange(other.newest_, nullptr);
    cursor_ = std::exchange(other.cursor_, nullptr);
    end_ = std::exchange(other.end_, nullptr);
    return;
  }
  // Link other's blocks in behind our newest one, which stays the allocating one.
  block_header* oldest_of_other = other.newest_;
  while (oldest_of_other->older != nullptr) oldest_of_other = oldest_of_other->older;
  oldest_of_other->older = newest_->older;
  newest_->older = std::exchange(other.newest_, nullptr);
  other.cursor_ = nullptr;
  other.end_ = nullptr;
}

}  // namespace optimist::detail
