// optimist/tasks.hpp — parallel loops without locks.
//
// Add one task per element, then run them all: each task runs in its own
// transaction on a oneTBB worker, so the result is always that of *some*
// one-at-a-time order of the tasks (with run_options::ordered, exactly the
// order they were added in).
//
//   std::vector<account> accounts = load();
//   for (auto& a : accounts)
//     optimist::add_task([&a] { optimist::store(a.balance, optimist::load(a.balance) * 1.05); });
//   optimist::run_all_tasks();
//
// add_task(f, args...)
//   Queues f(args...) on the global queue; f and args are copied or moved in,
//   as for std::thread. Callable from anywhere, also inside a running task or
//   atomic block: then the task is queued only when that transaction commits
//   (an aborted attempt adds nothing). An empty callable (empty std::function,
//   null function pointer) throws std::invalid_argument at once.
//   Cost: a bump allocation, about 5 ns — the task is built in place in the
//   queue's storage, released in bulk after the run (callables and arguments
//   up to 1 KiB and 64-byte alignment; larger ones, and tasks added inside a
//   transaction, get a heap allocation of their own). The queue's add lock is
//   biased toward the thread that adds: a loop of adds from one thread takes
//   no atomic instruction per add. Consecutive adds of one kind of trivially
//   destructible task (a lambda capturing references, pointers, numbers) are
//   kept as one run of tasks that a run splits and coalesces like an
//   add_tasks range; each is still a task of its own (its own exception,
//   pending(), ordered turn). The copy or move of f and args runs under the
//   queue's add lock: it must not add to the same queue (std::logic_error).
//
// add_tasks(first, last, f), add_tasks(range, f)
//   One task per element, added at once: f(i) for each integer i in
//   [first, last) (of their common type), or f(element) for each element of a random-access range
//   (a std::vector, std::deque, std::array, std::span, ...; taken by
//   reference: it must outlive the run, like the `&a` of the loop above).
//   Each element is still a task of its own, with everything said here about
//   tasks: its own transaction, its own exception (the run rethrows the one
//   element's exception; elements not started stay queued), pending() counts
//   elements, ordered runs commit them in index order (between the tasks added
//   before and after), and tasks may add them. Cost: one lock and one small
//   allocation for the whole range, whatever its length; a run hands the
//   elements out to its workers in chunks, as tbb::parallel_for does, without
//   building a task per element. (Added inside a running task or an atomic
//   block, each element becomes a heap task of its own when it commits.)
//   A worker may run consecutive elements in one transaction when that
//   commits the same as one after the other (stats() counts transactions:
//   commits + grouped_tasks is the tasks committed);
//   an element that throws, retries or becomes inevitable always runs alone.
//
//   for_each over accounts, as the loop above:
//     optimist::add_tasks(accounts, [](account& a) {
//       optimist::store(a.balance, optimist::load(a.balance) * 1.05);
//     });
//
// run_all_tasks(), run_all_tasks(options)
//   Runs every queued task, and every task they add, and returns when none is
//   left. Threads: options.threads, else the OPTIMIST_THREADS environment
//   variable, else one per physical core the calling thread may run on (hwloc
//   and its CPU mask; at most the cgroup's CPU quota). If a task throws, its
//   effects are rolled back, tasks already running finish, tasks not yet
//   started stay queued (pending() counts them; the next run runs them) and the
//   first exception is rethrown. Tasks already running that throw as well are
//   rolled back too, and their exceptions are not kept: only the first one
//   reaches the caller. Calling it from inside a task or an atomic block, or
//   while another thread runs the same queue, throws std::logic_error. Tasks
//   added by other threads while a run is going on are kept for the next run.
//   A task may wait in oneTBB itself (a tbb::parallel_for in its body): the
//   run's worker loops are isolated from such waits.
//
//   A task that calls optimist::retry() (optimist/retry.hpp) does not hold its
//   worker: it is rolled back and set aside until a commit changes something
//   it read, then runs again. If the run has nothing else left to do while
//   tasks are still set aside (no task of the run can wake them; commits of
//   threads outside the run are not waited for), the run throws
//   optimist::tasks_blocked, naming how many wait and where they called
//   retry(); they stay queued (pending()) and run again in the next run. In an
//   ordered run, a task that still retries at its turn — everything before it
//   has committed and nothing after it may commit first — blocks the run at
//   once: it stops as for an exception and throws tasks_blocked.
//   optimist::retry_until(deadline) (and tqueue::pop_until / pop_for) sets the
//   task aside the same way, but it also runs again at its deadline, and the
//   run waits for that rather than throwing tasks_blocked (its workers sleep
//   while nothing else is left to do). In an ordered run such a task waits at
//   its turn, holding it, for a commit from outside the run or its deadline.
//   An ordered run that stops (a task throws, or blocks, at its turn) commits
//   nothing after that task, as the sequential loop would: later tasks already
//   running roll back and stay queued with the rest, and the next run goes on
//   from there, in order. A bad OPTIMIST_MODE or run_options::threads (above
//   4096) throws std::invalid_argument before the run takes any task.
//   Reports name the tasks' atomic blocks (the hardware section, serial
//   waits, conflicts known only by their block) by the line that called
//   run_all_tasks / run: a task carries no place of its own.
//
// task_queue
//   The same as an object, for loops that should not share the global queue:
//   q.add(f, args...), q.run(), q.run(options), q.pending().
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "optimist/mode.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

struct run_options {
  // Worker threads, at most 4096 (like OPTIMIST_THREADS; a run asked for more
  // throws std::invalid_argument and keeps its tasks queued); 0:
  // $OPTIMIST_THREADS, else one per physical core.
  unsigned threads = 0;
  // Commit tasks in the order they were added (speculation still runs them in
  // parallel): any loop then gives exactly the result of the sequential loop,
  // loop-carried dependencies included. Tasks added by a task come after every
  // task added before it committed. A worker that would wait for a task whose
  // thread has stalled (descheduled on a busy machine) may run that task
  // itself and commit it at its turn: as with any re-run, a task's body may
  // run more than once, and on another thread, but commits once.
  bool ordered = false;
  // Bind each worker thread to its own core (hwloc).
  bool pin_threads = false;
  // The execution mode for this run's tasks (optimist/mode.hpp); unset: the
  // process-wide mode.
  std::optional<execution_mode> mode;
};

namespace detail {

class task_base;

// What the runtime does with one kind of task: run it, and end it once it has
// run (or when a queue drops it). destroy is nullptr when there is nothing to
// do: a trivially destructible task living in a queue's task storage, whose
// memory the queue releases in bulk after the run.
struct task_ops {
  void (*run)(task_base& task);
  void (*destroy)(task_base& task) noexcept;
  // Runs `count` tasks of this kind built one after the other from `first`
  // (a segment of the task storage), the callable inlined in the loop;
  // nullptr where tasks of the kind never form a segment.
  void (*run_consecutive)(std::byte* first, std::uint64_t count);
};

// A queued task: the ops of its kind, then the callable and its arguments.
// Not polymorphic, so that a task of trivially destructible parts is itself
// trivially destructible and costs nothing to end.
class task_base {
 public:
  void run() { ops_->run(*this); }
  void destroy() noexcept {
    if (ops_->destroy != nullptr) ops_->destroy(*this);
  }

 protected:
  explicit task_base(const task_ops& ops) noexcept : ops_(&ops) {}
  ~task_base() = default;

 private:
  const task_ops* ops_;
};

template <class F, class... Args>
class bound_task final : public task_base {
  static void run_task(task_base& task) {
    auto& self = static_cast<bound_task&>(task);
    std::apply(self.f_, self.args_);
  }
  static void end_in_place(task_base& task) noexcept {
    static_cast<bound_task&>(task).~bound_task();
  }
  static void delete_task(task_base& task) noexcept { delete &static_cast<bound_task&>(task); }
  static void run_consecutive(std::byte* first, std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i, first += sizeof(bound_task)) {
      auto& self = *std::launder(reinterpret_cast<bound_task*>(first));
      std::apply(self.f_, self.args_);
    }
  }

 public:
  static constexpr bool trivially_destructible =
      std::is_trivially_destructible_v<F> && (std::is_trivially_destructible_v<Args> && ...);
  // In a queue's task storage: ended in place, memory released with the storage.
  static constexpr task_ops in_storage{&run_task, trivially_destructible ? nullptr : &end_in_place,
                                       &run_consecutive};
  // On the heap (tasks added inside a transaction, callables too large or too
  // aligned for the storage): deleted.
  static constexpr task_ops on_heap{&run_task, &delete_task, nullptr};

  template <class G, class... A>
  explicit bound_task(const task_ops& ops, G&& f, A&&... args)
      : task_base(ops), f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}

 private:
  // Empty members take no room (a task of the seed loop, a lambda capturing
  // one reference, is 16 bytes, not 24: a third less storage written by the
  // adds and read back by the run).
  [[no_unique_address]] F f_;
  [[no_unique_address]] std::tuple<Args...> args_;
};

// Tasks up to this size and alignment are built in the queue's task storage
// (runtime/tasks/task_storage.hpp); larger ones on the heap.
inline constexpr std::size_t task_storage_max_size = 1024;
inline constexpr std::size_t task_storage_max_align = 64;

// The state of one add_tasks call: the callable and how to get from an
// element's index to its argument. The queue refers to it by index ranges
// (runtime/tasks/task_queue_state.hpp); it is destroyed when the last of them
// (and the last element task made from it) goes. Not polymorphic, like
// task_base.
class range_task_base {
 public:
  void run_element(std::uint64_t index) { ops_->run(*this, index); }
  // Elements [first, first + count) one after the other, in one call: the
  // callable inlined in the loop (a group of tiny elements in one
  // transaction pays no call per element).
  void run_elements(std::uint64_t first, std::uint64_t count) {
    ops_->run_many(*this, first, count);
  }
  void retain() noexcept { references_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) ops_->destroy(*this);
  }

 protected:
  struct range_ops {
    void (*run)(range_task_base& range, std::uint64_t index);
    void (*run_many)(range_task_base& range, std::uint64_t first, std::uint64_t count);
    void (*destroy)(range_task_base& range) noexcept;
  };
  explicit range_task_base(const range_ops& ops) noexcept : ops_(&ops) {}
  ~range_task_base() = default;

 private:
  const range_ops* ops_;
  std::atomic<std::uint64_t> references_{1};
};

template <class F, class Element>
class range_task final : public range_task_base {
  static void run_task(range_task_base& range, std::uint64_t index) {
    auto& self = static_cast<range_task&>(range);
    std::invoke(self.f_, self.element_(index));
  }
  static void run_tasks(range_task_base& range, std::uint64_t first, std::uint64_t count) {
    auto& self = static_cast<range_task&>(range);
    for (std::uint64_t i = first, last = first + count; i != last; ++i) {
      std::invoke(self.f_, self.element_(i));
    }
  }
  static void delete_task(range_task_base& range) noexcept {
    delete &static_cast<range_task&>(range);
  }
  static constexpr range_ops ops{&run_task, &run_tasks, &delete_task};

 public:
  template <class G>
  range_task(G&& f, Element element)
      : range_task_base(ops), f_(std::forward<G>(f)), element_(std::move(element)) {}

 private:
  F f_;
  Element element_;
};

template <class F>
bool is_empty_callable(const F& f) {
  if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) {
    return f == nullptr;
  } else if constexpr (std::is_constructible_v<bool, const F&>) {
    return !static_cast<bool>(f);  // std::function, std::move_only_function, ...
  } else {
    return false;
  }
}

class task_queue_state;

}  // namespace detail

class task_queue {
 public:
  task_queue();
  ~task_queue();  // tasks still pending are destroyed unrun, with a warning on stderr
  task_queue(const task_queue&) = delete;
  task_queue& operator=(const task_queue&) = delete;

  // task_queue::add()
  //   See add_task above.
  template <class F, class... Args>
  void add(F&& f, Args&&... args) {
    using function = std::decay_t<F>;
    static_assert(std::is_invocable_v<function&, std::decay_t<Args>&...>,
                  "optimist::add_task: the task cannot be called with these arguments");
    if (detail::is_empty_callable(f)) {
      throw std::invalid_argument("optimist::add_task: the task is an empty callable");
    }
    using task = detail::bound_task<function, std::decay_t<Args>...>;
    if constexpr (sizeof(task) <= detail::task_storage_max_size &&
                  alignof(task) <= detail::task_storage_max_align) {
      // The common case: built in place in the queue's task storage, no
      // allocation of its own and no free on the worker that runs it.
      // A trivially destructible task may join the previous one's segment
      // (runtime/tasks/task_queue.cpp): a run then splits consecutive adds
      // like an add_tasks range.
      constexpr const detail::task_ops* element_ops =
          task::trivially_destructible ? &task::in_storage : nullptr;
      if (void* memory = begin_add(sizeof(task), alignof(task), element_ops)) {
        // The queue's add lock is held until end_add / cancel_add.
        task* built;
        try {
          built = ::new (memory)
              task(task::in_storage, std::forward<F>(f), std::forward<Args>(args)...);
        } catch (...) {
          cancel_add(memory);
          throw;
        }
        end_add(*built);
        return;
      }
    }
    push(*new task(task::on_heap, std::forward<F>(f), std::forward<Args>(args)...));
  }

  // task_queue::add_tasks()
  //   See add_tasks above.
  template <std::integral First, std::integral Last, class F>
  void add_tasks(First first_index, Last last_index, F&& f) {
    using I = std::common_type_t<First, Last>;  // as for a loop `for (I i = first; i < last; ++i)`
    const I first = static_cast<I>(first_index);
    const I last = static_cast<I>(last_index);
    using function = std::decay_t<F>;
    static_assert(std::is_invocable_v<function&, I>,
                  "optimist::add_tasks: the task cannot be called with an index");
    if (detail::is_empty_callable(f)) {
      throw std::invalid_argument("optimist::add_tasks: the task is an empty callable");
    }
    if (last < first) {
      throw std::invalid_argument("optimist::add_tasks: the index range ends (" +
                                  std::to_string(last) + ") before it begins (" +
                                  std::to_string(first) + ")");
    }
    using unsigned_index = std::make_unsigned_t<I>;
    const auto count = static_cast<std::uint64_t>(static_cast<unsigned_index>(last) -
                                                  static_cast<unsigned_index>(first));
    if (count == 0) return;
    auto element = [first](std::uint64_t i) {
      return static_cast<I>(static_cast<unsigned_index>(first) + static_cast<unsigned_index>(i));
    };
    add_range(*new detail::range_task<function, decltype(element)>(std::forward<F>(f), element),
              count);
  }

  template <class Range, class F>
  requires std::ranges::random_access_range<Range> && std::ranges::sized_range<Range>
  void add_tasks(Range&& range, F&& f) {
    static_assert(std::is_lvalue_reference_v<Range> || std::ranges::borrowed_range<Range>,
                  "optimist::add_tasks: the range is a temporary and would be gone before its "
                  "tasks run; name it (the tasks refer to its elements)");
    using function = std::decay_t<F>;
    using reference = std::ranges::range_reference_t<Range>;
    static_assert(std::is_invocable_v<function&, reference>,
                  "optimist::add_tasks: the task cannot be called with an element of the range");
    if (detail::is_empty_callable(f)) {
      throw std::invalid_argument("optimist::add_tasks: the task is an empty callable");
    }
    const auto count = static_cast<std::uint64_t>(std::ranges::size(range));
    if (count == 0) return;
    auto element = [begin = std::ranges::begin(range)](std::uint64_t i) -> reference {
      return begin[static_cast<std::ranges::range_difference_t<Range>>(i)];
    };
    add_range(*new detail::range_task<function, decltype(element)>(std::forward<F>(f), element),
              count);
  }

  // task_queue::run()
  //   See run_all_tasks above.
  void run(source_location site = source_location::current());
  void run(const run_options& options, source_location site = source_location::current());

  // task_queue::pending()
  //   Tasks queued and not yet started.
  std::size_t pending() const noexcept;

 private:
  // The storage path of add(): begin_add returns memory for a task of this
  // size and alignment in the queue's task storage and holds the queue's add
  // lock, or returns nullptr (inside a transaction: the task must be published
  // only when that commits) and the caller takes the heap path. end_add queues
  // the built task and unlocks; cancel_add gives the memory back and unlocks.
  // element_ops: the task's ops if it is trivially destructible (it may
  // then be kept in a segment with the tasks of the same kind added right
  // before it), else nullptr.
  void* begin_add(std::size_t size, std::size_t alignment, const detail::task_ops* element_ops);
  void end_add(detail::task_base& task) noexcept;
  void cancel_add(void* memory) noexcept;
  // The heap path: takes ownership of `task` (destroyed if it cannot be queued).
  void push(detail::task_base& task);
  // add_tasks: takes over the one reference of `range` (`count` > 0 elements).
  void add_range(detail::range_task_base& range, std::uint64_t count);
  std::unique_ptr<detail::task_queue_state> state_;
};

// The queue behind add_task / run_all_tasks.
task_queue& global_task_queue();

template <class F, class... Args>
void add_task(F&& f, Args&&... args) {
  global_task_queue().add(std::forward<F>(f), std::forward<Args>(args)...);
}

template <std::integral First, std::integral Last, class F>
void add_tasks(First first, Last last, F&& f) {
  global_task_queue().add_tasks(first, last, std::forward<F>(f));
}

template <class Range, class F>
requires std::ranges::random_access_range<Range> && std::ranges::sized_range<Range>
void add_tasks(Range&& range, F&& f) {
  global_task_queue().add_tasks(std::forward<Range>(range), std::forward<F>(f));
}

inline void run_all_tasks(source_location site = source_location::current()) {
  global_task_queue().run(site);
}
inline void run_all_tasks(const run_options& options,
                          source_location site = source_location::current()) {
  global_task_queue().run(options, site);
}

// The number of worker threads a run with these options would use. Throws
// std::invalid_argument for options.threads above 4096 or a malformed
// OPTIMIST_THREADS.
unsigned resolve_thread_count(const run_options& options);

// tasks_blocked
//   Thrown by run_all_tasks / task_queue::run when the run ends with tasks
//   waiting in optimist::retry() that no task of the run can wake. what() says
//   how many and the source lines of their retry() calls; blocked_tasks() is
//   the count. The tasks stay queued for the next run.
class tasks_blocked : public std::runtime_error {
 public:
  tasks_blocked(std::size_t blocked_tasks, const std::string& what)
      : std::runtime_error(what), blocked_tasks_(blocked_tasks) {}
  std::size_t blocked_tasks() const noexcept { return blocked_tasks_; }

 private:
  std::size_t blocked_tasks_;
};

}  // namespace optimist
