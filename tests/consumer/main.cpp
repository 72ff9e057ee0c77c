// Checks that an installed optimist works from another CMake project: find_package(optimist),
// the public header, and one transaction. Run by tests/consumer/run.sh (ctest:
// consumer_find_package).
#include <optimist/optimist.hpp>

int main() {
  optimist::tvar<long> x{1};
  optimist::atomically([&] { x.set(x.get() + 1); });
  return x.get() == 2 ? 0 : 1;
}
