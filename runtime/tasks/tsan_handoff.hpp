// Telling ThreadSanitizer about hand-offs that go through oneTBB.
//
// Debian's libtbb is not built with ThreadSanitizer, so TSan does not see the
// synchronisation inside it: an object written by one thread and handed to a
// worker through a oneTBB queue or task looks like a data race. At each such
// hand-off the giving side calls handoff_release(key) and the taking side
// handoff_acquire(key) on the same key — exactly the happens-before edge the
// library provides. Outside TSan builds these compile to nothing.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define OPTIMIST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OPTIMIST_TSAN 1
#endif
#endif

#if defined(OPTIMIST_TSAN)
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace optimist::detail {

inline void handoff_release([[maybe_unused]] const void* key) noexcept {
#if defined(OPTIMIST_TSAN)
  __tsan_release(const_cast<void*>(key));
#endif
}

inline void handoff_acquire([[maybe_unused]] const void* key) noexcept {
#if defined(OPTIMIST_TSAN)
  __tsan_acquire(const_cast<void*>(key));
#endif
}

}  // namespace optimist::detail
