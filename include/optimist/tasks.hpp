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
//
// run_all_tasks(), run_all_tasks(options)
//   Runs every queued task, and every task they add, and returns when none is
//   left. Threads: options.threads, else the OPTIMIST_THREADS environment
//   variable, else one per physical core (hwloc). If a task throws, its effects
//   are rolled back, tasks already running finish, tasks not yet started stay
//   queued (pending() counts them; the next run runs them) and the first
//   exception is rethrown. Calling it from inside a task or an atomic block
//   throws std::logic_error. Tasks added by other threads while a run is going
//   on are kept for the next run.
//
// task_queue
//   The same as an object, for loops that should not share the global queue:
//   q.add(f, args...), q.run(), q.run(options), q.pending().
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "optimist/mode.hpp"

namespace optimist {

struct run_options {
  // Worker threads; 0: $OPTIMIST_THREADS, else one per physical core.
  unsigned threads = 0;
  // Commit tasks in the order they were added (speculation still runs them in
  // parallel): any loop then gives exactly the result of the sequential loop,
  // loop-carried dependencies included. Tasks added by a task come after every
  // task added before it committed.
  bool ordered = false;
  // Bind each worker thread to its own core (hwloc).
  bool pin_threads = false;
  // The execution mode for this run's tasks (optimist/mode.hpp); unset: the
  // process-wide mode.
  std::optional<execution_mode> mode;
};

namespace detail {

class task_base {
 public:
  virtual ~task_base() = default;
  virtual void run() = 0;
};

template <class F, class... Args>
class bound_task final : public task_base {
 public:
  template <class G, class... A>
  explicit bound_task(G&& f, A&&... args)
      : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}
  void run() override { std::apply(f_, args_); }

 private:
  F f_;
  std::tuple<Args...> args_;
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
    push(std::make_unique<detail::bound_task<function, std::decay_t<Args>...>>(
        std::forward<F>(f), std::forward<Args>(args)...));
  }

  // task_queue::run()
  //   See run_all_tasks above.
  void run();
  void run(const run_options& options);

  // task_queue::pending()
  //   Tasks queued and not yet started.
  std::size_t pending() const noexcept;

 private:
  void push(std::unique_ptr<detail::task_base> task);
  std::unique_ptr<detail::task_queue_state> state_;
};

// The queue behind add_task / run_all_tasks.
task_queue& global_task_queue();

template <class F, class... Args>
void add_task(F&& f, Args&&... args) {
  global_task_queue().add(std::forward<F>(f), std::forward<Args>(args)...);
}

inline void run_all_tasks() {
  global_task_queue().run();
}
inline void run_all_tasks(const run_options& options) {
  global_task_queue().run(options);
}

// The number of worker threads a run with these options would use.
unsigned resolve_thread_count(const run_options& options);

}  // namespace optimist
