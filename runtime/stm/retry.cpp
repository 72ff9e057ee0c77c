// optimist::retry(): placeholder until the blocking protocol lands.
#include <stdexcept>

#include "optimist/retry.hpp"

namespace optimist {

void retry(source_location) {
  throw std::logic_error("optimist::retry: not implemented yet");
}

}  // namespace optimist
