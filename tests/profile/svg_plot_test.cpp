// detail::write_conflict_svg: a standalone SVG with one bar per shown group.
#include "profile/svg_plot.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace svg_plot_test {

namespace {

using optimist::report::conflict_kind;
using optimist::report::profile;

std::string svg_of(const profile& p, std::size_t top) {
  std::ostringstream out;
  optimist::detail::write_conflict_svg(out, p, top);
  return out.str();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

profile three_groups() {
  profile p;
  p.conflicts.push_back({conflict_kind::write_write,
                         {"bank.cpp", 40, "f", false},
                         {"bank.cpp", 41, "f", false},
                         12,
                         0.1});
  p.conflicts.push_back({conflict_kind::write_read,
                         {"train.cpp", 88, "g", false},
                         {"train.cpp", 97, "g", false},
                         12412,
                         0.412});
  p.conflicts.push_back({conflict_kind::inevitable,
                         {"a&b<c>.cpp", 7, "h", false},
                         {"log.cpp", 20, "main", false},
                         1,
                         0.0004});
  return p;
}

TEST(SvgPlot, OneBarPerGroupLargestFirst) {
  const std::string svg = svg_of(three_groups(), 10);
  EXPECT_EQ(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 0), 0u);
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
  // Background + 3 bars + 3 legend swatches.
  EXPECT_EQ(count(svg, "<rect "), 7u);
  const auto first = svg.find(">write-read: train.cpp:88 \xe2\x86\x90 train.cpp:97</text>");
  const auto second = svg.find(">write-write: bank.cpp:40 \xe2\x86\x90 bank.cpp:41</text>");
  const auto third = svg.find(">inevitable: a&amp;b&lt;c&gt;.cpp:7 \xe2\x86\x90 log.cpp:20</text>");
  ASSERT_NE(first, std::string::npos) << svg;
  ASSERT_NE(second, std::string::npos) << svg;
  ASSERT_NE(third, std::string::npos) << svg;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_NE(svg.find(">0.412 s (12412 aborts)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">time lost (seconds)</text>"), std::string::npos);
  // Axis 0 .. 0.5 s in steps of 0.1.
  EXPECT_NE(svg.find(">0.0</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0.5</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">0.6</text>"), std::string::npos);
}

TEST(SvgPlot, TopLimitsTheBarsAndSaysHowManyMore) {
  const std::string svg = svg_of(three_groups(), 1);
  EXPECT_EQ(count(svg, "<rect "), 3u);  // background, one bar, one legend swatch
  EXPECT_NE(svg.find(">... 2 more conflict groups not drawn: 0.100 s lost</text>"),
            std::string::npos)
      << svg;
}

// A finite but huge time (a merged or hand-edited file): the axis used to round up to infinity
// and the tick loop never ended (the string grew until memory ran out).
TEST(SvgPlot, HugeTimesGiveAFiniteAxis) {
  profile p;
  p.conflicts.push_back(
      {conflict_kind::write_read, {"a.cpp", 1, "f", false}, {"a.cpp", 2, "f", false}, 1, 1.75e308});
  const std::string svg = svg_of(p, 10);
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
  EXPECT_LT(svg.size(), 100000u);
}

// Every byte sequence of the file is valid UTF-8: a long location is cut at a character.
bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80             ? 1
                          : (c & 0xe0) == 0xc0 ? 2
                          : (c & 0xf0) == 0xe0 ? 3
                          : (c & 0xf8) == 0xf0 ? 4
                                               : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST(SvgPlot, LongNonAsciiLocationsStayValidUtf8) {
  for (std::size_t pad = 0; pad < 4; ++pad) {
    std::string dir;
    for (int i = 0; i < 20; ++i) dir += "\xc3\xa9\xe2\x82\xac";  // é€
    const std::string file = std::string(pad, 'p') + "/src/" + dir + "/conflict.cpp";
    profile p;
    p.conflicts.push_back(
        {conflict_kind::write_read, {file, 10, "f", false}, {file, 11, "f", false}, 1, 0.5});
    const std::string svg = svg_of(p, 10);
    EXPECT_TRUE(valid_utf8(svg)) << pad;
  }
}

TEST(SvgPlot, WithoutConflictsSaysSo) {
  const std::string svg = svg_of(profile{}, 10);
  EXPECT_NE(svg.find(">No conflicts recorded.</text>"), std::string::npos) << svg;
  EXPECT_EQ(count(svg, "<rect "), 1u);
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
}

}  // namespace

}  // namespace svg_plot_test
