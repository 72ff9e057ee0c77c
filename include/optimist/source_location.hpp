// optimist/source_location.hpp
//
// `optimist::source_location` names a place in the user's source: every
// transactional access, atomic block and inevitable point takes one, defaulted
// to the call site, so that conflict reports can quote both lines of a conflict.
//
// With a standard library that has <source_location> (GCC 12's libstdc++ in
// C++20 mode) it *is* `std::source_location`. Clang 14 with libstdc++ 12 lacks
// it; there a type with the same members is built from the compiler builtins
// that every supported compiler evaluates at the call site.
//
//   void f(optimist::source_location where = optimist::source_location::current()) {
//     std::printf("%s:%u\n", where.file_name(), where.line());
//   }
#pragma once

#include <cstdint>
#if __has_include(<source_location>)
#include <source_location>
#endif

namespace optimist {

#if defined(__cpp_lib_source_location)
using source_location = std::source_location;
#else
// Same members as std::source_location; only used where the library lacks it.
class source_location {
 public:
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           std::uint_least32_t line = __builtin_LINE()) noexcept {
    source_location s;
    s.file_ = file;
    s.function_ = function;
    s.line_ = line;
    return s;
  }
  constexpr source_location() noexcept = default;
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return 0; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  std::uint_least32_t line_ = 0;
};
#endif

}  // namespace optimist
