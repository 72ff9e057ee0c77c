// JSON text: a recursive-descent reader and the writers' string/number helpers.
//
// The reader follows RFC 8259's grammar exactly. INVARIANT (depth): recursion
// is bounded by max_depth, checked in parser::value() before descending.
#include "profile/json_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <system_error>

namespace optimist::detail {

namespace {

constexpr unsigned max_depth = 64;

std::string describe_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  char buffer[16];
  if (u >= 0x20 && u < 0x7f) {
    std::snprintf(buffer, sizeof buffer, "'%c'", c);
  } else {
    std::snprintf(buffer, sizeof buffer, "byte 0x%02x", u);
  }
  return buffer;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

class parser {
 public:
  explicit parser(std::string_view text) : text_(text) {}

  json_value document() {
    skip_whitespace();
    json_value v = value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected " + describe_byte(text_[pos_]) + " after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { fail_at(problem, pos_); }
  [[noreturn]] void fail_at(const std::string& problem, std::size_t at) const {
    throw json_error(problem, text_, at);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      ++pos_;
  }

  void expect(char c, const char* where) {
    if (at_end()) fail(std::string("expected '") + c + "' " + where + ", found the end");
    if (peek() != c)
      fail(std::string("expected '") + c + "' " + where + ", found " + describe_byte(peek()));
    ++pos_;
  }

  json_value value(unsigned depth) {
    if (at_end()) fail("expected a value, found the end");
    json_value v;
    v.offset = pos_;
    switch (peek()) {
      case '{':
        if (depth >= max_depth) fail("nesting deeper than 64 levels");  // INVARIANT (depth)
        object(v, depth + 1);
        break;
      case '[':
        if (depth >= max_depth) fail("nesting deeper than 64 levels");  // INVARIANT (depth)
        array(v, depth + 1);
        break;
      case '"':
        v.kind = json_value::type::string;
        v.text = string();
        break;
      case 't':
        literal("true");
        v.kind = json_value::type::boolean;
        v.boolean = true;
        break;
      case 'f':
        literal("false");
        v.kind = json_value::type::boolean;
        break;
      case 'n':
        literal("null");
        break;
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
          v.kind = json_value::type::number;
          v.text = number();
        } else {
          fail("expected a value, found " + describe_byte(peek()));
        }
    }
    return v;
  }

  void literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("expected a value (a misspelt literal?)");
    pos_ += word.size();
  }

  void object(json_value& v, unsigned depth) {
    v.kind = json_value::type::object;
    ++pos_;  // '{'
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return;
    }
    for (;;) {
      skip_whitespace();
      if (at_end()) fail("expected a field name, found the end");
      if (peek() != '"') fail("expected a field name in quotes, found " + describe_byte(peek()));
      json_member m;
      m.name_offset = pos_;
      m.name = string();
      skip_whitespace();
      expect(':', "after the field name");
      skip_whitespace();
      m.value = value(depth);
      v.members.push_back(std::move(m));
      skip_whitespace();
      if (at_end()) fail("expected ',' or '}' in the object, found the end");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return;
      }
      fail("expected ',' or '}' in the object, found " + describe_byte(peek()));
    }
  }

  void array(json_value& v, unsigned depth) {
    v.kind = json_value::type::array;
    ++pos_;  // '['
    skip_whitespace();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      skip_whitespace();
      v.items.push_back(value(depth));
      skip_whitespace();
      if (at_end()) fail("expected ',' or ']' in the array, found the end");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return;
      }
      fail("expected ',' or ']' in the array, found " + describe_byte(peek()));
    }
  }

  std::uint32_t hex4() {
    if (text_.size() - pos_ < 4) fail("expected four hex digits after \\u");
    std::uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_];
      cp <<= 4;
      if (c >= '0' && c <= '9') {
        cp |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        cp |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        cp |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        fail("expected a hex digit in \\u escape, found " + describe_byte(c));
      }
      ++pos_;
    }
    return cp;
  }

  std::string string() {
    const std::size_t start = pos_;
    ++pos_;  // '"'
    std::string out;
    for (;;) {
      if (at_end()) fail_at("unterminated string", start);
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string (escape it)");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) fail_at("unterminated string", start);
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const std::size_t escape_at = pos_ - 2;
          std::uint32_t cp = hex4();
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u")
              fail_at("unpaired surrogate in \\u escape", escape_at);
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xdc00 || low > 0xdfff)
              fail_at("unpaired surrogate in \\u escape", escape_at);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            fail_at("unpaired surrogate in \\u escape", escape_at);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail_at("unknown escape \\" + std::string(1, e) + " in a string", pos_ - 2);
      }
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::string number() {
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - from;
    };
    if (peek() == '-') ++pos_;
    if (at_end()) fail("expected digits after '-'");
    if (peek() == '0') {
      ++pos_;
    } else if (digits() == 0) {
      fail("expected digits after '-'");
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (digits() == 0) fail("expected digits after the decimal point");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) fail("expected digits in the exponent");
    }
    if (!at_end() && peek() >= '0' && peek() <= '9') fail_at("leading zero in a number", start);
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

json_error::json_error(const std::string& problem, std::string_view text, std::size_t offset)
    : std::runtime_error(problem + " at " + json_position(text, offset)), offset_(offset) {}

std::string json_position(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

const char* json_type_name(json_value::type kind) noexcept {
  switch (kind) {
    case json_value::type::null:
      return "null";
    case json_value::type::boolean:
      return "a boolean";
    case json_value::type::number:
      return "a number";
    case json_value::type::string:
      return "a string";
    case json_value::type::array:
      return "an array";
    case json_value::type::object:
      return "an object";
  }
  return "a value";
}

json_value parse_json(std::string_view text) {
  return parser(text).document();
}

std::uint64_t json_to_uint64(const json_value& v, std::string_view text) {
  if (v.kind != json_value::type::number)
    throw json_error(std::string("expected a whole number, found ") + json_type_name(v.kind), text,
                     v.offset);
  if (v.text.find_first_not_of("0123456789") != std::string::npos)
    throw json_error("expected a whole number that is not negative, found " + v.text, text,
                     v.offset);
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
  if (ec != std::errc() || end != v.text.data() + v.text.size())
    throw json_error("number " + v.text + " is too large", text, v.offset);
  return n;
}

double json_to_double(const json_value& v, std::string_view text) {
  if (v.kind != json_value::type::number)
    throw json_error(std::string("expected a number, found ") + json_type_name(v.kind), text,
                     v.offset);
  double d = 0;
  const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), d);
  if (ec != std::errc() || end != v.text.data() + v.text.size() || !std::isfinite(d))
    throw json_error("number " + v.text + " is out of range", text, v.offset);
  return d;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629:
// no overlong forms, no surrogates, nothing past U+10FFFF), 0 if none.
std::size_t utf8_sequence_length(std::string_view s) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xBF;  // the second byte's range
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) low = 0xA0;
    if (b0 == 0xED) high = 0x9F;  // U+D800..U+DFFF are not characters
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) low = 0x90;
    if (b0 == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < n || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

// JSON text is UTF-8 (RFC 8259 section 8.1): well-formed sequences are copied,
// and a byte that starts none (a Latin-1 file name, a truncated sequence) is
// written as the character of that code (\u00XX), so the file stays readable
// by strict parsers and the name recognisable.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      if (const std::size_t n = utf8_sequence_length(s.substr(i))) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        char buffer[8];
        std::snprintf(buffer, sizeof buffer, "\\u%04x",
                      static_cast<unsigned>(static_cast<unsigned char>(c)));
        out += buffer;
        ++i;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) v = 0;
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  if (ec != std::errc()) {
    out += '0';
    return;
  }
  out.append(buffer, end);
}

}  // namespace optimist::detail
