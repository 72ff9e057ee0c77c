// task_storage — where a queue's tasks live between add and run.
//
// A chunked bump allocator: tasks are built one after the other in blocks of
// 64 KiB, and a block is released only as a whole, when the storage is. A
// task queue keeps one storage for the tasks waiting for the next run; a run
// takes it whole together with those tasks, its workers end each task in
// place after running it (nothing at all for a trivially destructible one),
// and the run gives every block back at once on the thread that ran it. The
// queue keeps given-back blocks as spares for the next adds (up to 32 MiB):
// blocks freed after every run came back from the kernel as fresh pages, and
// the page faults cost about 5% of a million-task loop.
//
// Why: with one heap allocation per task, adding a task cost an allocation on
// the adding thread and running it a free on a worker — a cross-thread free
// that, at two threads, made both workers queue on the allocator's lock of the
// adding thread's arena (the interest-rate loop ran slower at two threads than
// at one).
//
// INVARIANT (storage-outlives-tasks): a block is freed or reused only when no
// task built in it can still be run or ended: a run gives its storage back
// (recycle) only after every task it took has ended; one that stopped early
// hands back to the queue the blocks that hold the tasks it did not start
// (keep_blocks_holding) and recycles the others.
//
// Not thread-safe: the queue guards its storage with its add lock; a run's
// storage is touched only by the thread that runs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace optimist::detail {

class task_storage {
 public:
  task_storage() = default;
  task_storage(task_storage&& other) noexcept;
  task_storage& operator=(task_storage&& other) noexcept;
  task_storage(const task_storage&) = delete;
  task_storage& operator=(const task_storage&) = delete;
  ~task_storage();  // releases every block; what was built in them must have ended

  // task_storage::allocate()
  //   Memory for an object of `size` bytes aligned to `alignment` (at most
  //   64), valid until this storage (or the one it is appended to) is
  //   released. Throws std::bad_alloc; then nothing changed.
  void* allocate(std::size_t size, std::size_t alignment) {
    if (void* memory = try_allocate(size, alignment)) return memory;
    return allocate_in_new_block(size, alignment);
  }

  // task_storage::try_allocate()
  //   The same, or nullptr when the current block is full (never throws).
  void* try_allocate(std::size_t size, std::size_t alignment) noexcept {
    const std::uintptr_t start =
        (reinterpret_cast<std::uintptr_t>(cursor_) + alignment - 1) & ~(alignment - 1);
    if (cursor_ == nullptr || start + size > reinterpret_cast<std::uintptr_t>(end_)) return nullptr;
    cursor_ = reinterpret_cast<std::byte*>(start + size);
    return reinterpret_cast<void*>(start);
  }

  // task_storage::try_allocate_at()
  //   The same for `size` bytes at `at`, which must be the cursor (memory the
  //   caller knows to be aligned: right behind an object of the same kind);
  //   false if `at` is not the cursor or the block has no room.
  bool try_allocate_at(std::byte* at, std::size_t size) noexcept {
    if (at == nullptr || at != cursor_ || static_cast<std::size_t>(end_ - at) < size) return false;
    cursor_ = at + size;
    return true;
  }

  // task_storage::unallocate()
  //   Gives back the memory of the latest allocate() (whose object could not
  //   be built); it will be handed out again.
  void unallocate(void* memory) noexcept { cursor_ = static_cast<std::byte*>(memory); }

  // task_storage::take_blocks()
  //   A storage holding this one's blocks in use (and what was built in
  //   them); this one keeps its spare blocks and allocates in a fresh one.
  task_storage take_blocks() noexcept;

  // task_storage::recycle()
  //   Takes the blocks of `used` (whose objects have all ended) as spares,
  //   frees those beyond the limit and, if that was more than the limit,
  //   returns the freed memory to the system (glibc: malloc_trim); `used`
  //   becomes empty.
  void recycle(task_storage&& used) noexcept;

  // task_storage::append()
  //   Keeps the blocks of `other` alive as long as this storage's; `other`
  //   becomes empty. Allocation goes on in this storage's current block.
  void append(task_storage&& other) noexcept;

  // task_storage::keep_blocks_holding()
  //   append() for the blocks of `used` that hold one of `addresses` (objects
  //   that live on: tasks a stopped run requeues), recycle() for the others;
  //   `used` becomes empty. Sorts `addresses`.
  void keep_blocks_holding(task_storage&& used, std::vector<std::uintptr_t>& addresses) noexcept;

  // task_storage::holds()
  //   True if `address` lies in one of this storage's blocks in use.
  bool holds(const void* address) const noexcept;

  bool empty() const noexcept { return newest_ == nullptr; }

 private:
  struct block_header {
    block_header* older;
    std::size_t bytes;
  };
  static constexpr std::size_t block_size = 64 * 1024;
  static constexpr std::size_t max_spare_blocks = 512;  // 32 MiB

  void* allocate_in_new_block(std::size_t size, std::size_t alignment);
  void release() noexcept;
  static void free_list(block_header* list) noexcept;

  block_header* newest_ = nullptr;  // where allocation happens; a list through `older`
  std::byte* cursor_ = nullptr;     // free space of newest_: [cursor_, end_)
  std::byte* end_ = nullptr;
  block_header* spare_ = nullptr;  // blocks of block_size, free; a list through `older`
  std::size_t spare_count_ = 0;
};

}  // namespace optimist::detail
