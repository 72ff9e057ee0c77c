// detail::write_conflict_svg: the conflict groups as a horizontal bar chart.
//
// Geometry (pixels): a column of right-aligned labels, then the bar area
// (bar_area_width wide, 0 s at its left edge, the axis maximum at its right),
// then room for the value text. Text is monospace at 12 px, whose advance is
// about 7.2 px a character; the label column is sized from the longest label
// with that estimate (labels are capped at max_label_chars).
#include "profile/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "profile/site_format.hpp"

namespace optimist {

namespace {

constexpr double margin = 20;
constexpr double char_width = 7.2;
constexpr double row_height = 26;
constexpr double bar_height = 16;
constexpr double bar_area_width = 480;
constexpr double value_column_width = 230;
constexpr std::size_t max_location_chars = 48;
constexpr const char* left_arrow = "\xe2\x86\x90";  // U+2190 LEFTWARDS ARROW

std::string px(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

std::string xml_escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters, even escaped.
        out += (static_cast<unsigned char>(c) < 0x20 && c != '\t') ? ' ' : c;
    }
  }
  return out;
}

// Characters as a reader counts them (UTF-8 continuation bytes do not count).
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

std::string capped(std::string s) {
  if (s.size() <= max_location_chars) return s;
  std::size_t from = s.size() - (max_location_chars - 3);
  // Never from the middle of a UTF-8 character: the file says it is UTF-8.
  while (from < s.size() && (static_cast<unsigned char>(s[from]) & 0xc0) == 0x80) ++from;
  return "..." + s.substr(from);
}

std::string bar_label(const report::conflict& c) {
  return std::string(report::to_string(c.kind)) + ": " +
         capped(detail::site_location(c.aborted_site)) + " " + left_arrow + " " +
         capped(detail::site_location(c.other_site));
}

const char* colour_of(report::conflict_kind kind) {
  switch (kind) {
    case report::conflict_kind::write_read:
      return "#4e79a7";
    case report::conflict_kind::write_write:
      return "#f28e2b";
    case report::conflict_kind::inevitable:
      return "#b07aa1";
  }
  return "#999999";
}

// A round step (1, 2 or 5 times a power of ten) giving about five ticks.
double tick_step(double max_value) {
  const double raw = max_value / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double normalised = raw / magnitude;
  const double factor = normalised <= 1 ? 1 : normalised <= 2 ? 2 : normalised <= 5 ? 5 : 10;
  return factor * magnitude;
}

std::string tick_label(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string text_element(double x, double y, const std::string& text, const char* extra = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\"" + extra + ">" + xml_escaped(text) +
         "</text>\n";
}

}  // namespace

void detail::write_conflict_svg(std::ostream& out, const report::profile& p, std::size_t top) {
  std::vector<const report::conflict*> sorted;
  for (const report::conflict& c : p.conflicts) sorted.push_back(&c);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->time_lost_s > b->time_lost_s; });
  const std::size_t shown = std::min(top, sorted.size());

  std::vector<std::string> labels;
  std::size_t label_chars = 0;
  for (std::size_t i = 0; i < shown; ++i) {
    labels.push_back(bar_label(*sorted[i]));
    label_chars = std::max(label_chars, display_width(labels.back()));
  }
  const double label_width = std::max(160.0, static_cast<double>(label_chars) * char_width);
  const double bars_x = margin + label_width + 10;
  const double width = sorted.empty() ? 420 : bars_x + bar_area_width + value_column_width + margin;
  const double rows_y = 70;
  const double axis_y = rows_y + static_cast<double>(std::max<std::size_t>(shown, 1)) * row_height;
  const double height = sorted.empty() ? 70 : axis_y + 110;

  double total_lost = 0;
  for (const auto* c : sorted) total_lost += c->time_lost_s;
  double max_value = shown > 0 ? sorted[0]->time_lost_s : 0;
  if (!(max_value > 0) || !std::isfinite(max_value)) max_value = 1;
  // A finite axis (rounding 1.7e308 up to a step overflows to infinity, and
  // the tick loop below never reached it).
  max_value = std::min(max_value, 1e300);
  const double step = tick_step(max_value);
  const double axis_max = std::ceil(max_value / step - 1e-9) * step;
  auto x_of = [&](double seconds) {
    return bars_x + std::clamp(seconds / axis_max, 0.0, 1.0) * bar_area_width;
  };

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + px(width) +
       "\" height=\"" + px(height) + "\" viewBox=\"0 0 " + px(width) + " " + px(height) + "\">\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + px(width) + "\" height=\"" + px(height) +
       "\" fill=\"#ffffff\"/>\n";
  s += "<g font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"12\" "
       "fill=\"#222222\">\n";
  s += text_element(margin, 30, "optimist: time lost per conflict group",
                    " font-size=\"16\" font-weight=\"bold\"");
  if (sorted.empty()) {
    s += text_element(margin, 50, "No conflicts recorded.");
    s += "</g>\n</svg>\n";
    out << s;
    return;
  }
  std::string subtitle =
      sorted.size() == 1 ? "1 conflict group" : std::to_string(sorted.size()) + " conflict groups";
  subtitle += ", " + format_seconds(total_lost) + " lost, largest first";
  s += text_element(margin, 50, subtitle, " fill=\"#555555\"");

  // Axis first, so that its grid lines lie behind the bars: a line, ticks
  // with labels, a title.
  s += "<line x1=\"" + px(bars_x) + "\" y1=\"" + px(axis_y) + "\" x2=\"" +
       px(bars_x + bar_area_width) + "\" y2=\"" + px(axis_y) + "\" stroke=\"#222222\"/>\n";
  for (int i = 0; i <= 20; ++i) {  // about five ticks; the bound is a safety net
    const double value = step * i;
    if (value > axis_max + step * 1e-6) break;
    const double x = x_of(value);
    s += "<line x1=\"" + px(x) + "\" y1=\"" + px(axis_y) + "\" x2=\"" + px(x) + "\" y2=\"" +
         px(axis_y + 5) + "\" stroke=\"#222222\"/>\n";
    if (i > 0) {
      s += "<line x1=\"" + px(x) + "\" y1=\"" + px(rows_y) + "\" x2=\"" + px(x) + "\" y2=\"" +
           px(axis_y) + "\" stroke=\"#dddddd\"/>\n";
    }
    s += text_element(x, axis_y + 19, tick_label(value, step), " text-anchor=\"middle\"");
  }
  s += text_element(bars_x + bar_area_width / 2, axis_y + 38, "time lost (seconds)",
                    " text-anchor=\"middle\"");

  for (std::size_t i = 0; i < shown; ++i) {
    const report::conflict& c = *sorted[i];
    const double y = rows_y + static_cast<double>(i) * row_height;
    const double bar_end = x_of(c.time_lost_s);
    const std::string value = format_seconds(c.time_lost_s) + " (" + std::to_string(c.count) +
                              (c.count == 1 ? " abort)" : " aborts)");
    s += "<g>\n<title>" +
         xml_escaped(std::string(report::to_string(c.kind)) + ": " + site_location(c.aborted_site) +
                     " " + left_arrow + " " + site_location(c.other_site) + ", " + value) +
         "</title>\n";
    s += text_element(bars_x - 8, y + 16, labels[i], " text-anchor=\"end\"");
    s += "<rect x=\"" + px(bars_x) + "\" y=\"" + px(y + 4) + "\" width=\"" +
         px(std::max(bar_end - bars_x, 1.0)) + "\" height=\"" + px(bar_height) + "\" fill=\"" +
         colour_of(c.kind) + "\"/>\n";
    s += text_element(bar_end + 6, y + 16, value);
    s += "</g>\n";
  }

  // Legend: the kinds that appear, in a fixed order.
  double legend_x = margin;
  const double legend_y = axis_y + 62;
  for (auto kind : {report::conflict_kind::write_read, report::conflict_kind::write_write,
                    report::conflict_kind::inevitable}) {
    const bool present =
        std::any_of(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(shown),
                    [&](const auto* c) { return c->kind == kind; });
    if (!present) continue;
    s += "<rect x=\"" + px(legend_x) + "\" y=\"" + px(legend_y - 11) +
         "\" width=\"12\" height=\"12\" fill=\"" + colour_of(kind) + "\"/>\n";
    s += text_element(legend_x + 18, legend_y, report::to_string(kind));
    legend_x +=
        18 + static_cast<double>(std::string(report::to_string(kind)).size()) * char_width + 24;
  }
  if (shown < sorted.size()) {
    double lost = 0;
    for (std::size_t i = shown; i < sorted.size(); ++i) lost += sorted[i]->time_lost_s;
    const std::size_t more = sorted.size() - shown;
    s += text_element(margin, legend_y + 24,
                      "... " + std::to_string(more) +
                          (more == 1 ? " more conflict group" : " more conflict groups") +
                          " not drawn: " + format_seconds(lost) + " lost",
                      " fill=\"#555555\"");
  }
  s += "</g>\n</svg>\n";
  out << s;
}

}  // namespace optimist
