// JSON text for the report files: a small reader that parses RFC 8259 text
// into a tree of json_value, each node remembering where it started so that
// errors further up (report::read_json's shape checks) can name the position
// too; and the two helpers the writers share (strings, numbers).
//
//   detail::json_value v = detail::parse_json(text);   // throws json_error
//   for (const json_member& m : v.members) ...
//
// Strict: no comments, no trailing commas, no NaN, nothing after the value
// but whitespace. Strings are returned as UTF-8 (\u escapes and surrogate
// pairs decoded); numbers are kept as their literal text, converted by the
// caller (json_to_uint64, json_to_double). Nesting deeper than 64 levels is
// refused, so hostile input cannot exhaust the stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace optimist::detail {

struct json_member;

struct json_value {
  enum class type { null, boolean, number, string, array, object };
  type kind = type::null;
  bool boolean = false;
  std::string text;                  // a string's contents, or a number's literal
  std::vector<json_value> items;     // array elements
  std::vector<json_member> members;  // object members, in input order
  std::size_t offset = 0;            // where the value starts in the input
};

struct json_member {
  std::string name;
  std::size_t name_offset = 0;
  json_value value;
};

// The reason and the position: what() reads "<problem> at line L, column C".
class json_error : public std::runtime_error {
 public:
  json_error(const std::string& problem, std::string_view text, std::size_t offset);
  std::size_t offset() const noexcept { return offset_; }

 private:
  std::size_t offset_;
};

// "line 3, column 14" (both from 1; columns count bytes).
std::string json_position(std::string_view text, std::size_t offset);

// "null", "a boolean", "a number", "a string", "an array", "an object".
const char* json_type_name(json_value::type kind) noexcept;

// parse_json(text)
//   The whole of `text` as one JSON value; throws json_error otherwise.
json_value parse_json(std::string_view text);

// Number conversions; throw json_error (positioned at `v`) when `v` is not a
// number of that kind: json_to_uint64 wants a non-negative integer literal
// (no fraction, no exponent) that fits; json_to_double any finite number.
std::uint64_t json_to_uint64(const json_value& v, std::string_view text);
double json_to_double(const json_value& v, std::string_view text);

// Appends `s` as a JSON string literal (quotes included) to `out`: escapes
// '"', '\\' and control characters; other bytes are copied as they are.
void append_json_string(std::string& out, std::string_view s);
// Appends a finite double in the shortest form that reads back to the same
// value ("0.412", "1e-09"); non-finite values are written as 0.
void append_json_number(std::string& out, double v);

}  // namespace optimist::detail
