// detail::short_function_name, format_seconds, site_location: how reports
// write names, durations and places.
#include "profile/site_format.hpp"

#include <gtest/gtest.h>

#include <filesystem>

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace site_format_test {

namespace {

using optimist::detail::format_seconds;
using optimist::detail::short_function_name;

TEST(SiteFormat, FunctionNamesLoseReturnTypeAndParameters) {
  EXPECT_EQ(short_function_name("int main()"), "main");
  EXPECT_EQ(short_function_name("void compute(train&)"), "compute");
  EXPECT_EQ(short_function_name("compute(train&)"), "compute");
  EXPECT_EQ(short_function_name("compute"), "compute");
  EXPECT_EQ(short_function_name("const char* ns::name(int) noexcept"), "ns::name");
  EXPECT_EQ(short_function_name("std::vector<int, std::allocator<int> > ns::make(int)"),
            "ns::make");
  EXPECT_EQ(short_function_name("void ns::f(T) [with T = int; U = std::pair<int, int>]"), "ns::f");
  EXPECT_EQ(short_function_name("auto ns::C<T>::get() const & [T = int]"), "ns::C<T>::get");
}

TEST(SiteFormat, LambdasAndAnonymousScopesKeepTheirNames) {
  EXPECT_EQ(short_function_name("main()::<lambda()>"), "main::<lambda>");
  EXPECT_EQ(short_function_name("compute(train&)::<lambda(int)>"), "compute::<lambda>");
  EXPECT_EQ(short_function_name("auto main()::(anonymous class)::operator()() const"),
            "main::(anonymous class)::operator()");
  EXPECT_EQ(short_function_name("int (anonymous namespace)::helper(int)"),
            "(anonymous namespace)::helper");
  EXPECT_EQ(short_function_name("void {anonymous}::helper()"), "{anonymous}::helper");
}

TEST(SiteFormat, OperatorsKeepTheirSymbols) {
  EXPECT_EQ(short_function_name("bool ns::S::operator<(const S&) const"), "ns::S::operator<");
  EXPECT_EQ(short_function_name("S& S::operator<<=(int)"), "S::operator<<=");
  EXPECT_EQ(short_function_name("T* ptr<T>::operator->() [with T = int]"), "ptr<T>::operator->");
  EXPECT_EQ(short_function_name("ns::S::operator int() const"), "ns::S::operator int");
  EXPECT_EQ(short_function_name("void* operator new(std::size_t)"), "operator new");
}

TEST(SiteFormat, UnparsableNamesAreShownAsGiven) {
  EXPECT_EQ(short_function_name(""), "");
  EXPECT_EQ(short_function_name("broken(int"), "broken(int");
  EXPECT_EQ(short_function_name("broken)"), "broken)");
  EXPECT_EQ(short_function_name("f<int(void)"), "f<int(void)");
}

TEST(SiteFormat, SecondsInAUnitThatShowsTheValue) {
  EXPECT_EQ(format_seconds(0), "0.000 s");
  EXPECT_EQ(format_seconds(0.412), "0.412 s");
  EXPECT_EQ(format_seconds(0.001), "0.001 s");
  EXPECT_EQ(format_seconds(12.3456), "12.346 s");
  EXPECT_EQ(format_seconds(0.0005), "0.500 ms");
  EXPECT_EQ(format_seconds(0.000002), "0.002 ms");
  EXPECT_EQ(format_seconds(2.5e-7), "250 ns");
}

TEST(SiteFormat, Locations) {
  using optimist::detail::site_location;
  EXPECT_EQ(site_location({"a.cpp", 3, "f", false}), "a.cpp:3");
  EXPECT_EQ(site_location({"a.cpp", 0, "", false}), "a.cpp");
  EXPECT_EQ(site_location({"", 7, "f", false}), "(unknown)");
  const std::string inside = (std::filesystem::current_path() / "x" / "y.cpp").string();
  EXPECT_EQ(site_location({inside, 1, "", false}), "x/y.cpp:1");
  EXPECT_EQ(site_location({"/elsewhere/y.cpp", 1, "", false}), "/elsewhere/y.cpp:1");
}

}  // namespace

}  // namespace site_format_test
