// Writing sites and durations for people; see site_format.hpp.
#include "profile/site_format.hpp"

#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

namespace optimist::detail {

namespace {

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool ends_with_operator(std::string_view s) {
  constexpr std::string_view op = "operator";
  if (s.size() < op.size() || s.substr(s.size() - op.size()) != op) return false;
  return s.size() == op.size() || !is_identifier_char(s[s.size() - op.size() - 1]);
}

// A parenthesised group that is part of a name rather than a parameter list.
bool is_name_group(std::string_view group) {
  return group.starts_with("(anonymous") || group.starts_with("(lambda") ||
         group.starts_with("(unnamed");
}

// Index of the ')' matching the '(' at `open`, or npos.
std::size_t matching_paren(std::string_view s, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    if (s[i] == ')' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// Cuts GCC's " [with T = int; ...]" (or Clang's " [T = int]") off the end.
std::string_view without_template_arguments(std::string_view s) {
  if (const auto with = s.find(" [with "); with != std::string_view::npos) return s.substr(0, with);
  const auto open = s.rfind(" [");
  if (open != std::string_view::npos && s.ends_with(']') &&
      s.find(" = ", open) != std::string_view::npos)
    return s.substr(0, open);
  return s;
}

bool remove_suffix_word(std::string& s, std::string_view word) {
  if (s.size() > word.size() && s.ends_with(word) && s[s.size() - word.size() - 1] == ' ') {
    s.resize(s.size() - word.size() - 1);
    return true;
  }
  return false;
}

}  // namespace

std::string display_path(const std::string& file) {
  std::error_code ec;
  const std::filesystem::path path(file);
  if (!path.is_absolute()) return file;
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (ec) return file;
  std::string prefix = cwd.string();
  if (!prefix.ends_with('/')) prefix += '/';
  if (file.size() > prefix.size() && file.starts_with(prefix)) return file.substr(prefix.size());
  return file;
}

std::string site_location(const report::site& s) {
  if (s.file.empty()) return "(unknown)";
  std::string out = display_path(s.file);
  if (s.line != 0) {
    out += ':';  // two appends: `":" + to_string(...)` trips GCC 12's -Wrestrict at -O3
    out += std::to_string(s.line);
  }
  return out;
}

std::string short_function_name(std::string_view name) {
  const std::string_view given = name;
  name = without_template_arguments(name);

  // 1. Drop every parameter list, keeping "operator()" and name groups.
  std::string stripped;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == ')') return std::string(given);  // unbalanced
    if (c != '(') {
      stripped += c;
      continue;
    }
    const std::size_t close = matching_paren(name, i);
    if (close == std::string_view::npos) return std::string(given);
    const std::string_view group = name.substr(i, close - i + 1);
    if (is_name_group(group) || (group == "()" && ends_with_operator(stripped))) stripped += group;
    i = close;
  }

  // 2. Drop trailing qualifiers: "operator() const", "f &&", "g noexcept".
  while (remove_suffix_word(stripped, "const") || remove_suffix_word(stripped, "volatile") ||
         remove_suffix_word(stripped, "noexcept") || remove_suffix_word(stripped, "&&") ||
         remove_suffix_word(stripped, "&")) {
  }
  while (!stripped.empty() && (stripped.back() == ' ' || stripped.back() == '&'))
    stripped.pop_back();

  // 3. Drop the return type: the name is the last word outside brackets. The
  //    characters of an operator name ("operator<", "operator->") do not
  //    open or close brackets, and "operator new" or a conversion such as
  //    "operator int" keeps its space.
  std::size_t name_start = 0;
  int depth = 0;
  for (std::size_t i = 0; i < stripped.size(); ++i) {
    const char c = stripped[i];
    if (ends_with_operator(std::string_view(stripped).substr(0, i))) {
      if (c == ' ') continue;  // "operator new", "operator int"
      while (i < stripped.size() &&
             std::string_view("<>=!+-*/%^&|~[],").find(stripped[i]) != std::string_view::npos) {
        ++i;
      }
      if (i >= stripped.size()) break;
    }
    const char d = stripped[i];
    if (d == '<' || d == '(' || d == '[') ++depth;
    if (d == '>' || d == ')' || d == ']') --depth;
    if (depth < 0) return std::string(given);
    if (depth == 0 && d == ' ') name_start = i + 1;
  }
  if (depth != 0) return std::string(given);
  std::string result = stripped.substr(name_start);
  return result.empty() ? std::string(given) : result;
}

std::string format_seconds(double s) {
  char buffer[48];
  if (s == 0 || s >= 1e-3 || s <= -1e-3) {
    std::snprintf(buffer, sizeof buffer, "%.3f s", s);
  } else if (s >= 1e-6 || s <= -1e-6) {
    std::snprintf(buffer, sizeof buffer, "%.3f ms", s * 1e3);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.0f ns", s * 1e9);
  }
  return buffer;
}

}  // namespace optimist::detail
