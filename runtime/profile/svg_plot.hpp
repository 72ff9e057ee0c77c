// A standalone SVG bar chart of the conflict groups, for optimist-report --svg.
//
//   detail::write_conflict_svg(file, merged_profile, 10);
//
// One horizontal bar per conflict group, largest time lost first, labelled
// "kind: aborted file:line ← other file:line" and followed by its time and
// abort count; bars are coloured by kind (legend at the bottom) and drawn on
// a seconds axis with round ticks. At most `top` groups are drawn; a note
// says how many more there were. Without conflicts the picture says "No
// conflicts recorded.". Plain SVG 1.1 (no script, no external fonts), so any
// browser or rsvg-convert renders it.
#pragma once

#include <cstddef>
#include <iosfwd>

#include "optimist/report.hpp"

namespace optimist::detail {

void write_conflict_svg(std::ostream& out, const report::profile& p, std::size_t top);

}  // namespace optimist::detail
